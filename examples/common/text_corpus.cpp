#include "text_corpus.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

#include "gz_file.hpp"

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

// Plain bytes, or the decompressed bytes when the file starts with the gzip magic 1f 8b.
std::vector<std::uint8_t> read_file(const std::string& path, bool& gzip) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format(
        "text corpus '{}': cannot open the file (does it exist and is it readable?). Pass --data FILE with a "
        "text file (plain or gzip), or --data kjv for the King James Bible from Debian's bible-kjv",
        path));
  char magic[2] = {0, 0};
  in.read(magic, 2);
  gzip = in.gcount() == 2 && static_cast<unsigned char>(magic[0]) == 0x1f && static_cast<unsigned char>(magic[1]) == 0x8b;
  if (gzip) {
    in.close();
    std::string text;
    try {
      text = GzFile(path).read_all();
    } catch (const std::runtime_error& e) {
      std::string reason = e.what();  // "<path>: <reason>"
      if (reason.rfind(path + ": ", 0) == 0) reason.erase(0, path.size() + 2);
      throw std::runtime_error(fmt::format("text corpus '{}' (gzip, by its first bytes): {}", path, reason));
    }
    if (text.empty())
      throw std::runtime_error(fmt::format("text corpus '{}' (gzip, by its first bytes): decompresses to no bytes", path));
    return std::vector<std::uint8_t>(text.begin(), text.end());
  }
  in.clear();
  in.seekg(0);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The length of the UTF-8 character at p[0] (n >= 1 bytes from there to the end of the data),
// or 0 if the bytes there are not valid UTF-8 (bad lead or continuation byte, overlong form,
// surrogate, beyond U+10FFFF, or cut off by the end).
std::size_t utf8_length(const std::uint8_t* p, std::size_t n) {
  const std::uint8_t c = p[0];
  if (c < 0x80) return 1;
  std::size_t length = 0;
  std::uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF)) return 0;
  }
  return length;
}

// Another compression format the bytes start with ("" if none): those files are not decompressed.
std::string compression_format(const std::vector<std::uint8_t>& bytes) {
  static const std::pair<std::string, const char*> formats[] = {
      {"\x1f\x8b", "gzip"}, {"BZh", "bzip2"}, {std::string("\xfd" "7zXZ\0", 6), "xz"}, {"\x28\xb5\x2f\xfd", "zstd"},
      {"PK\x03\x04", "zip"}};
  for (const auto& [magic, name] : formats)
    if (bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin(),
                                                   [](char m, std::uint8_t b) { return static_cast<std::uint8_t>(m) == b; }))
      return name;
  return "";
}

}  // namespace

TextCorpus load_text_corpus(const std::string& source, double held_out) {
  if (!(held_out > 0 && held_out < 1))
    throw std::invalid_argument(fmt::format("load_text_corpus: held_out must be in (0, 1), got {}", held_out));
  bool gzip = false;
  std::vector<std::uint8_t> bytes = source == kDefaultCorpus ? read_kjv() : read_file(source, gzip);
  if (bytes.empty()) throw std::runtime_error(fmt::format("text corpus '{}': the file is empty", source));
  const std::size_t split = static_cast<std::size_t>(bytes.size() * (1 - held_out));
  if (split < 2 || bytes.size() - split < 2)
    throw std::runtime_error(fmt::format("text corpus '{}': {} bytes is too short to hold out {:.0f}%", source,
                                         bytes.size(), held_out * 100));
  TextCorpus corpus;
  corpus.source = source;
  corpus.gzip = gzip;
  corpus.warning = non_text_report(bytes, source);
  corpus.train.assign(bytes.begin(), bytes.begin() + split);
  corpus.validation.assign(bytes.begin() + split, bytes.end());
  return corpus;
}

std::string non_text_report(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  const std::size_t n = std::min(bytes.size(), kTextSampleBytes);
  std::size_t nul = 0, control = 0, invalid = 0;
  for (std::size_t i = 0; i < n;) {
    const std::uint8_t c = bytes[i];
    const bool text_control = c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (c == 0) ++nul;
    else if ((c < 0x20 && !text_control) || c == 0x7f) ++control;
    const std::size_t length = utf8_length(&bytes[i], bytes.size() - i);  // may look past the sample
    if (length == 0) ++invalid;
    i += std::max<std::size_t>(length, 1);
  }
  const std::size_t odd = nul + control + invalid;
  if (100 * odd <= n) return "";
  const std::string format = compression_format(bytes);
  return fmt::format("'{}' does not look like text: in its first {} bytes, {} NUL, {} other control and {} not valid "
                     "UTF-8 ({:.1f}% of them); training on the raw bytes anyway{}",
                     name, n, nul, control, invalid, 100.0 * double(odd) / double(n),
                     format.empty() ? "" : fmt::format(" (it starts like a {} file, which is not decompressed here)", format));
}

bool is_valid_utf8(const std::string& bytes) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t length = utf8_length(p + i, bytes.size() - i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string default_prompt(const std::vector<std::uint8_t>& held_out, std::size_t max_bytes) {
  if (held_out.empty() || max_bytes == 0) return "";
  // Start at the first line that begins near the start (blank lines skipped), else at the start.
  const auto search_end = held_out.begin() + std::min(held_out.size(), 4 * max_bytes);
  auto start = std::find(held_out.begin(), search_end, std::uint8_t('\n'));
  while (start != held_out.end() && *start == '\n') ++start;
  if (start == search_end || start == held_out.end()) start = held_out.begin();
  const std::size_t available = static_cast<std::size_t>(held_out.end() - start);
  const std::string window(start, start + std::min(available, max_bytes));
  if (const std::size_t line_end = window.find('\n'); line_end != std::string::npos) return window.substr(0, line_end + 1);
  if (available > max_bytes && start[max_bytes] != ' ' && start[max_bytes] != '\n') {
    // The line goes on past the window: cut before the last space that follows some text.
    const std::size_t space = window.find_last_of(' ');
    if (space != std::string::npos && space > window.find_first_not_of(' ')) return window.substr(0, space);
  }
  // No boundary: the first bytes, without a UTF-8 character cut in half at the end.
  for (std::size_t k = 1; k <= 3 && k < window.size(); ++k)
    if (!is_valid_utf8(window) && is_valid_utf8(window.substr(0, window.size() - k))) return window.substr(0, window.size() - k);
  return window;
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
