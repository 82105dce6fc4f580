// FASTA files: read_fasta, the nucleotide check and the token encoding. Built twice: plain input
// (fuzz_fasta) and gzip-compressed first (fuzz_fasta_gzip, PF_FUZZ_GZIP). Documented error:
// std::runtime_error.
#include <stdexcept>

#include "fasta.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = pf::fuzz::write_input(data, size, PF_FUZZ_GZIP);
  try {
    const std::vector<pf::examples::FastaRecord> records = pf::examples::read_fasta(path);
    pf::examples::nucleotide_warning(records, path);
    for (const pf::examples::FastaRecord& r : records) pf::examples::ProteinVocab::encode(r.sequence, true, true);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  }
  return 0;
}
