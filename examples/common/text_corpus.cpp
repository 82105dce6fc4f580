#include "text_corpus.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

namespace pf::examples {
namespace {

std::vector<std::uint8_t> read_kjv() {
  // `bible` ships with Debian's bible-kjv; the reference range prints the whole book (4.3 MB).
  FILE* pipe = popen("bible \"Gen1:1-Rev22:21\" 2>/dev/null", "r");
  std::vector<std::uint8_t> bytes;
  if (pipe != nullptr) {
    char buffer[1 << 16];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
    const int status = pclose(pipe);
    if (status != 0) bytes.clear();
  }
  if (bytes.empty())
    throw std::runtime_error(
        "text corpus 'kjv': could not run Debian's `bible` program (package bible-kjv). Install it with "
        "`apt-get install bible-kjv` (scripts/install_deps.sh does), or pass --data FILE with any text file");
  return bytes;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format(
        "text corpus '{}': cannot open the file (does it exist and is it readable?). Pass --data FILE with a "
        "text file, or --data kjv for the King James Bible from Debian's bible-kjv",
        path));
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TextCorpus load_text_corpus(const std::string& source, double held_out) {
  if (!(held_out > 0 && held_out < 1))
    throw std::invalid_argument(fmt::format("load_text_corpus: held_out must be in (0, 1), got {}", held_out));
  std::vector<std::uint8_t> bytes = source == kDefaultCorpus ? read_kjv() : read_file(source);
  if (bytes.empty()) throw std::runtime_error(fmt::format("text corpus '{}': the file is empty", source));
  const std::size_t split = static_cast<std::size_t>(bytes.size() * (1 - held_out));
  if (split < 2 || bytes.size() - split < 2)
    throw std::runtime_error(fmt::format("text corpus '{}': {} bytes is too short to hold out {:.0f}%", source,
                                         bytes.size(), held_out * 100));
  TextCorpus corpus;
  corpus.source = source;
  corpus.train.assign(bytes.begin(), bytes.begin() + split);
  corpus.validation.assign(bytes.begin() + split, bytes.end());
  return corpus;
}

TokenBatch random_windows(const std::vector<std::uint8_t>& bytes, std::size_t B, std::size_t T, Rng& rng) {
  if (bytes.size() < T + 1)
    throw std::invalid_argument(
        fmt::format("random_windows: {} bytes cannot hold a window of {} tokens plus its target", bytes.size(), T));
  TokenBatch batch{Indices::from_shape({B, T}), Indices::from_shape({B, T})};
  for (std::size_t b = 0; b < B; ++b) {
    const std::size_t start = rng.below(bytes.size() - T);
    for (std::size_t t = 0; t < T; ++t) {
      batch.inputs(b, t) = bytes[start + t];
      batch.targets(b, t) = bytes[start + t + 1];
    }
  }
  return batch;
}

std::vector<TokenBatch> fixed_windows(const std::vector<std::uint8_t>& bytes, std::size_t B, std::size_t T,
                                      std::size_t max_tokens) {
  const std::size_t available = bytes.size() > T ? (bytes.size() - 1) / T : 0;
  const std::size_t windows = std::min(available, (max_tokens + T - 1) / T);
  if (windows == 0)
    throw std::invalid_argument(
        fmt::format("fixed_windows: {} held-out bytes cannot hold one window of {} tokens", bytes.size(), T));
  std::vector<TokenBatch> batches;
  for (std::size_t w0 = 0; w0 < windows; w0 += B) {
    const std::size_t rows = std::min(B, windows - w0);
    TokenBatch batch{Indices::from_shape({rows, T}), Indices::from_shape({rows, T})};
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t t = 0; t < T; ++t) {
        batch.inputs(r, t) = bytes[(w0 + r) * T + t];
        batch.targets(r, t) = bytes[(w0 + r) * T + t + 1];
      }
    batches.push_back(std::move(batch));
  }
  return batches;
}

}  // namespace pf::examples
