// Protein sequences: a FASTA reader (plain or gzip), the amino-acid vocabulary, a held-out
// split by whole sequence, and fixed-length crops and masking for training batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"

namespace pf::examples {

// The UniProt sample (20k sequences) in Debian's mmseqs2-examples package.
inline const std::string kDefaultFasta = "/usr/share/doc/mmseqs2/example-data/DB.fasta.gz";

struct FastaRecord {
  std::string header;    // the '>' line without the '>' (trailing whitespace removed)
  std::string sequence;  // the sequence lines joined, whitespace removed, upper case
};

// Parses FASTA text: '>' starts a record, sequence lines may wrap at any width, empty lines and
// ';' comment lines are skipped, a trailing '*' (stop) is dropped, '\r' is tolerated.
// Throws std::runtime_error naming `source` and the line for sequence data before any header.
std::vector<FastaRecord> parse_fasta(const std::string& text, const std::string& source = "<text>");
// Reads a FASTA file, plain or gzip-compressed. Missing, empty or corrupt files throw
// std::runtime_error naming the file (and, for the default file, the Debian package).
std::vector<FastaRecord> read_fasta(const std::string& path);

// Empty unless every residue of `records` (at least one) is A, C, G, T, U or N: then a warning
// naming `path` that the file looks like nucleotides (DNA/RNA), not protein. These letters are
// amino acids too, so such a file still trains, on a four-letter alphabet.
std::string nucleotide_warning(const std::vector<FastaRecord>& records, const std::string& path);

// Token ids: special tokens first, then the 25 amino-acid letters (the 20 standard ones,
// then B, Z, X, U, O: ambiguous Asx/Glx, unknown, selenocysteine, pyrrolysine).
struct ProteinVocab {
  static constexpr std::int64_t kPad = 0;      // fills crops shorter than the length
  static constexpr std::int64_t kUnknown = 1;  // any other letter
  static constexpr std::int64_t kMask = 2;     // masked-token prediction input
  static constexpr std::int64_t kBos = 3;      // sequence start (also the class token)
  static constexpr std::int64_t kEos = 4;      // sequence end
  static constexpr std::int64_t kFirstAmino = 5;
  static constexpr const char* kAminoAcids = "ACDEFGHIKLMNPQRSTVWYBZXUO";
  static constexpr std::size_t kNumAmino = 25;
  static constexpr std::size_t kNumStandardAmino = 20;  // the first 20 letters
  static constexpr std::size_t kSize = kFirstAmino + kNumAmino;  // 30

  // The id of a letter (case-insensitive); kUnknown for anything else.
  static std::int64_t encode(char letter);
  // bos? + one id per letter + eos?
  static std::vector<std::int64_t> encode(const std::string& sequence, bool add_bos, bool add_eos);
  // "A".."O" for letters, "<pad>", "<unk>", "<mask>", "<bos>", "<eos>"; throws for ids >= kSize.
  static std::string token(std::int64_t id);
  static std::string decode(const std::vector<std::int64_t>& ids);
};

struct SequenceSplit {
  std::vector<std::string> train, held_out;
  std::size_t duplicates_removed = 0;
};
// Splits whole sequences (never pieces of one) into train and held-out parts: exact duplicate
// sequences are removed first (so no held-out sequence is also a training sequence), then a
// seeded shuffle; held_out_fraction in (0, 1), at least one sequence on each side.
SequenceSplit split_by_sequence(const std::vector<FastaRecord>& records, double held_out_fraction,
                                std::uint64_t seed);

// Exactly `length` tokens of `tokens`: a window starting at a uniformly random offset when it
// is longer (at offset 0 if rng is null, for fixed evaluation crops); padded with kPad when shorter.
std::vector<std::int64_t> crop_tokens(const std::vector<std::int64_t>& tokens, std::size_t length, Rng* rng);

// Masked-token prediction (BERT style): each non-special token is chosen with probability
// `rate`; the input at a chosen position becomes kMask (80%), a random amino acid (10%) or
// stays (10%); random replacements are standard amino acids. targets hold the original id at chosen positions and ignore_index elsewhere.
struct MaskedTokens {
  Indices inputs, targets;
};
MaskedTokens mask_tokens(const Indices& tokens, double rate, Rng& rng, std::int64_t ignore_index = -100);

}  // namespace pf::examples
