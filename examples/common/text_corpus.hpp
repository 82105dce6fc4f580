// Byte-level text data: the bytes of a file (or of Debian's King James Bible), split into a
// training part and a held-out tail, served as seeded random windows.
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
  std::vector<std::uint8_t> train;     // first (1 - held_out) of the bytes
  std::vector<std::uint8_t> validation;  // the last held_out fraction
};

// Reads `source` (a file path, or "kjv"). Throws std::runtime_error naming the file and what to
// do if it is missing, unreadable, empty or too short for the held-out split.
TextCorpus load_text_corpus(const std::string& source, double held_out = 0.1);

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
