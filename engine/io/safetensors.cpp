#include "engine/io/safetensors.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace pf {
namespace {

constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses headers above 100 MB; so do we (a corrupt length
// would otherwise make us allocate whatever it says).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::runtime_error corrupt(const std::string& path, const std::string& why) {
  return std::runtime_error(fmt::format("load_safetensors: '{}': {}", path, why));
}

// A JSON value for an error message, cut to a readable length.
std::string excerpt(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// numel(shape) * item, or false on overflow. The sizes other than 0 must multiply to at most
// 2^63 - 1 even when one size is 0: [0, 2^40, 2^40] holds no bytes, but its strides (in
// elements, signed 64-bit in xtensor) would overflow.
bool byte_count(const Shape& shape, std::size_t item, std::uint64_t& out) {
  const std::uint64_t max_elements = std::uint64_t(std::numeric_limits<std::int64_t>::max());
  std::uint64_t elements = 1;
  bool empty = false;
  for (std::size_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (elements > max_elements / d) return false;
    elements *= d;
  }
  if (empty) {
    out = 0;
    return true;
  }
  if (elements > std::numeric_limits<std::uint64_t>::max() / item) return false;
  out = elements * item;
  return true;
}

struct HeaderEntry {
  std::string name;
  Dtype dtype;
  Shape shape;
  std::uint64_t begin, end;
};

// The header's JSON, refused unless it starts with '{' (no byte-order mark, no leading space),
// holds no key twice in any object (nlohmann would keep the last of two tensors with one name)
// and nests at most kMaxDepth deep (no reader needs more; error messages print values).
constexpr std::size_t kMaxDepth = 64;

nlohmann::json parse_header(const std::string& path, const std::string& text) {
  if (text.empty() || text[0] != '{')
    throw corrupt(path, fmt::format("the header must start with '{{', it starts with byte 0x{:02x}",
                                    text.empty() ? 0 : static_cast<unsigned char>(text[0])));
  // One set of keys per open object (nullptr for an open array), innermost last.
  std::vector<std::unique_ptr<std::set<std::string>>> open;
  auto check = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      if (open.size() == kMaxDepth)
        throw corrupt(path, fmt::format("the header nests objects and arrays deeper than {} levels", kMaxDepth));
      open.push_back(event == Event::object_start ? std::make_unique<std::set<std::string>>() : nullptr);
    } else if (event == Event::object_end || event == Event::array_end) {
      open.pop_back();
    } else if (event == Event::key && !open.empty() && open.back()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open.back()->insert(key).second) {
        const std::string where = open.size() == 1 ? "tensor name" : "key";
        throw corrupt(path, fmt::format("{} '{}' appears twice in the header", where, key));
      }
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 4E888
    throw corrupt(path, fmt::format("header is not valid JSON ({})", e.what()));
  }
}

HeaderEntry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& spec) {
  auto bad = [&](const std::string& why) { return corrupt(path, fmt::format("tensor '{}': {}", name, why)); };
  if (!spec.is_object()) throw bad("header entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!spec.contains(key)) throw bad(fmt::format("header entry has no \"{}\"", key));
  HeaderEntry e;
  e.name = name;
  const nlohmann::json& dtype = spec["dtype"];
  if (!dtype.is_string()) throw bad("\"dtype\" is not a string");
  if (dtype == "F32") e.dtype = Dtype::f32;
  else if (dtype == "F64") e.dtype = Dtype::f64;
  else throw bad(fmt::format("unsupported dtype {} (F32 and F64 are supported)", excerpt(dtype)));
  const nlohmann::json& shape = spec["shape"];
  if (!shape.is_array()) throw bad("\"shape\" is not an array");
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) throw bad(fmt::format("\"shape\" {} has a non-integer or negative entry", excerpt(shape)));
    e.shape.push_back(d.get<std::size_t>());
  }
  const nlohmann::json& offsets = spec["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    throw bad(fmt::format("\"data_offsets\" {} is not a pair of non-negative integers", excerpt(offsets)));
  e.begin = offsets[0].get<std::uint64_t>();
  e.end = offsets[1].get<std::uint64_t>();
  if (e.begin > e.end) throw bad(fmt::format("data_offsets [{},{}] end before they begin", e.begin, e.end));
  std::uint64_t bytes = 0;
  if (!byte_count(e.shape, dtype_size(e.dtype), bytes))
    throw bad(fmt::format("shape {} is too large", shape_str(e.shape)));
  if (bytes != e.end - e.begin)
    throw bad(fmt::format("dtype {} and shape {} need {} bytes, but data_offsets [{},{}] hold {}",
                          dtype_name(e.dtype), shape_str(e.shape), bytes, e.begin, e.end, e.end - e.begin));
  return e;
}

}  // namespace

const char* dtype_name(Dtype dtype) { return dtype == Dtype::f32 ? "F32" : "F64"; }
std::size_t dtype_size(Dtype dtype) { return dtype == Dtype::f32 ? 4 : 8; }

template <class T>
TensorToSave tensor_to_save(const std::string& name, const Array<T>& array) {
  return TensorToSave{name, dtype_of<T>(), to_shape(array.shape()), array.data()};
}

// ---- save ----------------------------------------------------------------------------------

void save_safetensors(const std::string& path, const std::vector<TensorToSave>& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string> names;
  std::vector<ByteSpan> parts(1);  // parts[0]: length + header, filled in below
  std::uint64_t offset = 0;
  for (const TensorToSave& t : tensors) {
    if (t.name.empty() || t.name == kMetadataKey)
      throw std::invalid_argument(fmt::format("save_safetensors: '{}': invalid tensor name '{}'", path, t.name));
    if (!names.insert(t.name).second)
      throw std::invalid_argument(fmt::format("save_safetensors: '{}': tensor '{}' is listed twice", path, t.name));
    const std::uint64_t bytes = shape_numel(t.shape) * dtype_size(t.dtype);
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    if (bytes > 0) parts.push_back(ByteSpan{t.data, bytes});
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error& e) {  // strings must be UTF-8
    throw std::invalid_argument(
        fmt::format("save_safetensors: '{}': a tensor name or metadata string is not valid UTF-8 ({})", path, e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  std::string prefix(8, '\0');
  const std::uint64_t length = text.size();
  std::memcpy(prefix.data(), &length, 8);
  prefix += text;
  parts[0] = ByteSpan{prefix.data(), prefix.size()};
  write_file_atomically(path, parts);
}

template <class T>
void save_safetensors(const std::string& path, const NamedArrays<T>& arrays, const Metadata& metadata) {
  std::vector<TensorToSave> views;
  for (const auto& [name, array] : arrays) views.push_back(tensor_to_save(name, array));
  save_safetensors(path, views, metadata);
}

template <class T>
void save_safetensors(const std::string& path, const NamedTensors<T>& tensors, const Metadata& metadata) {
  std::vector<TensorToSave> views;
  for (const auto& [name, tensor] : tensors) views.push_back(tensor_to_save(name, tensor.value()));
  save_safetensors(path, views, metadata);
}

// ---- load ----------------------------------------------------------------------------------

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("load_safetensors: cannot open '{}': {}", path, std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  if (file_size < 8)
    throw corrupt(path, fmt::format("truncated: {} bytes, too short for the 8-byte header length", file_size));
  std::uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), 8);
  if (header_size > kMaxHeaderBytes)
    throw corrupt(path, fmt::format("header length {} exceeds the {} byte limit", header_size, kMaxHeaderBytes));
  if (header_size > file_size - 8)
    throw corrupt(path, fmt::format("header length {} goes beyond the end of the file ({} bytes): truncated?",
                                    header_size, file_size));
  std::string text(header_size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_size));
  if (!in) throw corrupt(path, "cannot read the header");

  const nlohmann::json header = parse_header(path, text);

  SafetensorsFile file;
  file.path = path;
  std::vector<HeaderEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) throw corrupt(path, "\"__metadata__\" is not an object");
      if (value.contains("data_offsets") && !value["data_offsets"].is_string())
        throw corrupt(path, "a tensor is named \"__metadata__\", the key reserved for the metadata");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string())
          throw corrupt(path, fmt::format("metadata '{}' is {}, not a string (safetensors metadata maps strings to strings)", mkey,
                                          excerpt(mvalue)));
        file.metadata[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, key, value));
  }

  // The tensors must tile the data section exactly: sorted by offset, each begins where the
  // previous one ends, and the last one ends at the end of the file.
  const std::uint64_t data_size = file_size - 8 - header_size;
  std::sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const HeaderEntry& e = entries[i];
    if (e.end > data_size)
      throw corrupt(path, fmt::format("tensor '{}': data_offsets [{},{}] go beyond the data section ({} bytes): truncated?",
                                      e.name, e.begin, e.end, data_size));
    if (e.begin < covered)
      throw corrupt(path, fmt::format("tensors '{}' and '{}' overlap (data_offsets [{},{}] start before {})",
                                      entries[i - 1].name, e.name, e.begin, e.end, covered));
    if (e.begin > covered)
      throw corrupt(path, fmt::format("bytes [{},{}) of the data section, before tensor '{}', belong to no tensor",
                                      covered, e.begin, e.name));
    covered = e.end;
  }
  if (covered != data_size)
    throw corrupt(path, fmt::format("the data section has {} bytes, but the tensors end at byte {}", data_size, covered));

  for (const HeaderEntry& e : entries) {
    LoadedTensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    char* dst = nullptr;
    if (e.dtype == Dtype::f32) {
      t.f32 = empty_array<float>(e.shape);
      dst = reinterpret_cast<char*>(t.f32.data());
    } else {
      t.f64 = empty_array<double>(e.shape);
      dst = reinterpret_cast<char*>(t.f64.data());
    }
    in.seekg(static_cast<std::streamoff>(8 + header_size + e.begin));
    in.read(dst, static_cast<std::streamsize>(e.end - e.begin));
    if (!in) throw corrupt(path, fmt::format("tensor '{}': cannot read its data", e.name));
    file.tensors.push_back(std::move(t));
  }
  return file;
}

template <class T>
Array<T> LoadedTensor::as() const {
  if (dtype == dtype_of<T>()) {
    if constexpr (std::is_same<T, float>::value) return f32;
    else return f64;
  }
  Array<T> out = empty_array<T>(shape);
  if (dtype == Dtype::f32) std::transform(f32.begin(), f32.end(), out.begin(), [](float v) { return static_cast<T>(v); });
  else std::transform(f64.begin(), f64.end(), out.begin(), [](double v) { return static_cast<T>(v); });
  return out;
}

const LoadedTensor* SafetensorsFile::find(const std::string& name) const {
  for (const LoadedTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const LoadedTensor& SafetensorsFile::at(const std::string& name) const {
  if (const LoadedTensor* t = find(name)) return *t;
  throw std::invalid_argument(fmt::format("safetensors: '{}' has no tensor '{}'", path, name));
}

template <class T>
NamedArrays<T> SafetensorsFile::arrays() const {
  NamedArrays<T> out;
  for (const LoadedTensor& t : tensors) out.emplace_back(t.name, t.as<T>());
  return out;
}

#define PF_INSTANTIATE(T)                                                                         \
  template TensorToSave tensor_to_save<T>(const std::string&, const Array<T>&);                   \
  template void save_safetensors<T>(const std::string&, const NamedArrays<T>&, const Metadata&);  \
  template void save_safetensors<T>(const std::string&, const NamedTensors<T>&, const Metadata&); \
  template Array<T> LoadedTensor::as<T>() const;                                                  \
  template NamedArrays<T> SafetensorsFile::arrays<T>() const;
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
