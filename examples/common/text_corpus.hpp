// Byte-level text data: the bytes of a file (gzip-compressed files are decompressed), or of
// Debian's King James Bible, split into a training part and a held-out tail, served as seeded
// random windows; and the default sampling prompt taken from the held-out text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"

namespace pf::examples {

// The name that selects the default corpus: the KJV text printed by Debian's `bible` program.
inline const std::string kDefaultCorpus = "kjv";

struct TextCorpus {
  std::string source;                  // file path, or "kjv"
  bool gzip = false;                   // the file was gzip-compressed (the bytes below are decompressed)
  std::string warning;                 // non-empty when the bytes do not look like text (see non_text_report)
  std::vector<std::uint8_t> train;     // first (1 - held_out) of the bytes
  std::vector<std::uint8_t> validation;  // the last held_out fraction
};

// Reads `source` (a file path, or "kjv"). A file starting with the gzip magic bytes (1f 8b) is
// decompressed, whatever its name. Throws std::runtime_error naming the file and the reason if it
// is missing, unreadable, empty, corrupt gzip or too short for the held-out split. Bytes that do
// not look like text are not an error (a byte-level model trains on anything): `warning` says so.
TextCorpus load_text_corpus(const std::string& source, double held_out = 0.1);

// How many leading bytes non_text_report looks at.
constexpr std::size_t kTextSampleBytes = 1 << 16;
// Empty when the first kTextSampleBytes of `bytes` look like text; otherwise what was seen, e.g.
// "in its first 65536 bytes: 812 NUL, 3190 other control bytes, 20011 not valid UTF-8". Text is
// UTF-8 (ASCII included) with tabs, line breaks and form feeds; it is judged binary when more
// than 1 % of the sample is NUL, other control bytes or not valid UTF-8. `name` is the file.
std::string non_text_report(const std::vector<std::uint8_t>& bytes, const std::string& name);
// True if `bytes` are valid UTF-8 (safetensors metadata, e.g. a stored prompt, must be).
bool is_valid_utf8(const std::string& bytes);

// The prompt of a sample when none is given: the first whole line of `held_out` (the held-out
// slice usually starts inside a line), up to max_bytes, cut after a line break or before the last
// space that fits. Falls back to the first bytes when there is no such boundary; never empty
// unless held_out is.
std::string default_prompt(const std::vector<std::uint8_t>& held_out, std::size_t max_bytes = 64);

// A batch of next-byte prediction windows: inputs [B, T] and targets [B, T] (inputs shifted by one).
struct TokenBatch {
  Indices inputs, targets;
};

// B windows of T+1 bytes at uniformly random offsets of `bytes`, drawn from rng.
TokenBatch random_windows(const std::vector<std::uint8_t>& bytes, std::size_t B, std::size_t T, Rng& rng);

// Non-overlapping windows from the start of `bytes`, enough to cover `max_tokens` targets
// (a fixed held-out slice: the same windows every evaluation). Each batch has up to B rows.
std::vector<TokenBatch> fixed_windows(const std::vector<std::uint8_t>& bytes, std::size_t B, std::size_t T,
                                      std::size_t max_tokens);

}  // namespace pf::examples
