// Text corpora (plain, or gzip by their first bytes): load_text_corpus, its text check and the
// default prompt. Built twice: plain input (fuzz_text) and gzip-compressed first (fuzz_text_gzip,
// PF_FUZZ_GZIP). Documented error: std::runtime_error.
#include <stdexcept>

#include "fuzz_input.hpp"
#include "text_corpus.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = pf::fuzz::write_input(data, size, PF_FUZZ_GZIP);
  try {
    const pf::examples::TextCorpus corpus = pf::examples::load_text_corpus(path);
    pf::examples::default_prompt(corpus.validation);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  }
  return 0;
}
