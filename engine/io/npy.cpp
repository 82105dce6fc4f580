#include "engine/io/npy.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/io/atomic_file.hpp"
#include "engine/io/finite.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy I/O assumes a little-endian host");

namespace pf {
namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes + the terminating 0 (not written)
constexpr std::size_t kMagicSize = 6;

std::runtime_error corrupt(const std::string& path, const std::string& why) {
  return std::runtime_error(fmt::format("load_npy: '{}': {}", path, why));
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        h.descr = parse_string();
        has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
        has_order = true;
      } else if (key == "shape") {
        h.shape = parse_shape();
        has_shape = true;
      } else {
        throw error(fmt::format("unexpected key '{}'", key));
      }
      skip_space();
      if (peek() == ',') ++i_;
      else if (peek() != '}') throw error("expected ',' or '}'");
    }
    ++i_;
    skip_space();
    if (i_ != s_.size()) throw error("text after the closing '}'");
    if (!has_descr || !has_order || !has_shape) throw error("needs the keys 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  std::runtime_error error(const std::string& why) const {
    return corrupt(path_, fmt::format("cannot parse the header \"{}\" at character {}: {}", trimmed(), i_, why));
  }
  std::string trimmed() const {
    std::string t = s_;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    return t;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) throw error(fmt::format("expected '{}'", c));
    ++i_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') throw error("expected a quoted string");
    const std::size_t close = s_.find(quote, i_ + 1);
    if (close == std::string::npos) throw error("unterminated string");
    std::string out = s_.substr(i_ + 1, close - i_ - 1);
    i_ = close + 1;
    return out;
  }
  bool parse_bool() {
    skip_space();
    for (const char* word : {"True", "False"})
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        return word[0] == 'T';
      }
    throw error("expected True or False");
  }
  Shape parse_shape() {
    expect('(');
    Shape shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) throw error("expected a non-negative integer in the shape");
      std::size_t d = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const std::size_t digit = static_cast<std::size_t>(s_[i_++] - '0');
        if (d > (std::numeric_limits<std::size_t>::max() - digit) / 10) throw error("shape entry too large");
        d = d * 10 + digit;
      }
      shape.push_back(d);
      skip_space();
      if (peek() == ',') ++i_;
      else if (peek() != ')') throw error("expected ',' or ')' in the shape");
    }
    ++i_;
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

template <class T>
const char* descr_of() {
  return std::is_same<T, float>::value ? "<f4" : "<f8";
}

}  // namespace

template <class T>
void save_npy(const std::string& path, const Array<T>& array) {
  std::string shape = "(";
  for (std::size_t d : array.shape()) shape += fmt::format("{}, ", d);
  if (array.dimension() == 1) shape.pop_back();          // "(3,)"
  else if (array.dimension() > 1) shape.resize(shape.size() - 2);  // "(2, 3)"
  shape += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr_of<T>(), shape);
  // Version 1.0 stores the header length in 2 bytes; 2.0 in 4.
  const bool v2 = header.size() + 1 + kMagicSize + 4 > 65535;
  const std::size_t prefix = kMagicSize + 2 + (v2 ? 4 : 2);
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string head(kMagic, kMagicSize);
  head += static_cast<char>(v2 ? 2 : 1);
  head += '\0';
  const std::uint32_t length = static_cast<std::uint32_t>(header.size());
  head.append(reinterpret_cast<const char*>(&length), v2 ? 4 : 2);
  head += header;
  write_file_atomically(path, {ByteSpan{head.data(), head.size()}, ByteSpan{array.data(), array.size() * sizeof(T)}});
}

template <class T>
Array<T> load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("load_npy: cannot open '{}': {}", path, std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  char start[kMagicSize + 2] = {};
  if (file_size < sizeof(start) || !in.read(start, sizeof(start)))
    throw corrupt(path, fmt::format("truncated: {} bytes, shorter than the npy preamble", file_size));
  if (std::memcmp(start, kMagic, kMagicSize) != 0) throw corrupt(path, "not an npy file (bad magic string)");
  const int major = static_cast<unsigned char>(start[kMagicSize]);
  if (major < 1 || major > 3) throw corrupt(path, fmt::format("unsupported npy format version {}", major));
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  std::uint32_t header_size = 0;
  if (file_size < sizeof(start) + length_bytes) throw corrupt(path, "truncated inside the header length");
  in.read(reinterpret_cast<char*>(&header_size), static_cast<std::streamsize>(length_bytes));
  const std::uint64_t data_start = sizeof(start) + length_bytes + header_size;
  if (data_start > file_size)
    throw corrupt(path, fmt::format("header length {} goes beyond the end of the file ({} bytes): truncated?",
                                    header_size, file_size));
  std::string text(header_size, '\0');
  in.read(text.data(), header_size);
  const NpyHeader h = HeaderParser(text, path).parse();
  if (h.descr != "<f4" && h.descr != "<f8")
    throw corrupt(path, fmt::format("unsupported dtype '{}' (little-endian float32 '<f4' and float64 '<f8' are supported)", h.descr));
  if (h.fortran_order) throw corrupt(path, "Fortran-order arrays are not supported (save with C order)");
  const std::size_t item = h.descr == "<f4" ? 4 : 8;
  // The sizes other than 0 must multiply to at most 2^63 - 1 even when one size is 0:
  // (0, 2^40, 2^40) holds no bytes, but its strides (signed 64-bit in xtensor) would overflow.
  const std::uint64_t max_elements = std::uint64_t(std::numeric_limits<std::int64_t>::max());
  std::uint64_t elements = 1;
  bool empty = false;
  for (std::size_t d : h.shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (elements > max_elements / d) throw corrupt(path, fmt::format("shape {} is too large", shape_str(h.shape)));
    elements *= d;
  }
  if (!empty && elements > std::numeric_limits<std::uint64_t>::max() / item)
    throw corrupt(path, fmt::format("shape {} is too large", shape_str(h.shape)));
  const std::uint64_t need = empty ? 0 : elements * item;
  if (need != file_size - data_start)
    throw corrupt(path, fmt::format("dtype '{}' and shape {} need {} data bytes, the file has {}", h.descr,
                                    shape_str(h.shape), need, file_size - data_start));
  Array<T> out = empty_array<T>(h.shape);
  if (item == sizeof(T)) {
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(need));
  } else if (item == 4) {
    Array<float> raw = empty_array<float>(h.shape);
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(need));
    std::copy(raw.begin(), raw.end(), out.begin());
  } else {
    Array<double> raw = empty_array<double>(h.shape);
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(need));
    std::transform(raw.begin(), raw.end(), out.begin(), [](double v) { return static_cast<T>(v); });
  }
  if (!in) throw corrupt(path, "cannot read the data");
  require_finite(out.data(), out.size(), fmt::format("load_npy: '{}'", path), "the array");
  return out;
}

template void save_npy<float>(const std::string&, const Array<float>&);
template void save_npy<double>(const std::string&, const Array<double>&);
template Array<float> load_npy<float>(const std::string&);
template Array<double> load_npy<double>(const std::string&);

}  // namespace pf
