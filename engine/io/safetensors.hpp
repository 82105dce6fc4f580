// safetensors files (the Hugging Face format): read and write named F32/F64 tensors.
//
// Layout: 8-byte little-endian header length N, then N bytes of JSON
//   {"__metadata__": {"key": "value", ...},
//    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// (padded with spaces to a multiple of 8), then the raw little-endian, row-major data; offsets
// count from the start of the data section. Files written here load in Python with
// `safetensors.torch.load_file` / `safetensors.numpy.load_file`.
//
// Saving is atomic (temporary file in the same directory, fsync, rename). Loading is as strict
// as the reference reader: a header length of at most 100 MB; a header that starts with '{'
// (trailing spaces allowed), is valid JSON and names no tensor (nor any key of an object) twice;
// supported dtypes; each tensor's byte range exactly numel x dtype size (overflow-checked); the
// ranges, sorted by offset, tile the data section from byte 0 with no gap or overlap and end at
// the end of the file; "__metadata__" maps strings to strings and is no tensor's name. Every
// problem is a std::runtime_error naming the file, the values and, where there is one, the tensor.
//
//   pf::save_safetensors("w.safetensors", model.named_state(), {{"step", "1000"}});
//   pf::SafetensorsFile f = pf::load_safetensors("w.safetensors");
//   pf::Array<float> w = f.at("layers.0.weight").as<float>();
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/core/named.hpp"
#include "engine/core/tensor.hpp"

namespace pf {

enum class Dtype { f32, f64 };
// "F32" / "F64" (the safetensors spelling).
const char* dtype_name(Dtype dtype);
std::size_t dtype_size(Dtype dtype);
template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "F32 and F64 only");
  return std::is_same<T, float>::value ? Dtype::f32 : Dtype::f64;
}

using Metadata = std::map<std::string, std::string>;

// One tensor to write: a view of contiguous row-major data (not copied).
struct TensorToSave {
  std::string name;
  Dtype dtype;
  Shape shape;
  const void* data;
};
template <class T>
TensorToSave tensor_to_save(const std::string& name, const Array<T>& array);

// Writes tensors (in the given order) and metadata. Names must be unique, non-empty and not
// "__metadata__"; throws std::invalid_argument otherwise, std::runtime_error on I/O failure.
void save_safetensors(const std::string& path, const std::vector<TensorToSave>& tensors,
                      const Metadata& metadata = {});
template <class T>
void save_safetensors(const std::string& path, const NamedArrays<T>& arrays, const Metadata& metadata = {});
template <class T>
void save_safetensors(const std::string& path, const NamedTensors<T>& tensors, const Metadata& metadata = {});

// One tensor read from a file; the values are in f32 or f64 according to dtype.
struct LoadedTensor {
  std::string name;
  Dtype dtype = Dtype::f32;
  Shape shape;
  Array<float> f32;
  Array<double> f64;
  // The values as T: exact when the dtype matches or widens (F32 -> double); F64 -> float
  // rounds to nearest.
  template <class T>
  Array<T> as() const;
};

struct SafetensorsFile {
  std::string path;
  std::vector<LoadedTensor> tensors;  // in data-offset order (the order they were written)
  Metadata metadata;
  // nullptr if absent.
  const LoadedTensor* find(const std::string& name) const;
  // Throws std::invalid_argument naming the tensor and the file if absent.
  const LoadedTensor& at(const std::string& name) const;
  // Every tensor, converted to T (see LoadedTensor::as).
  template <class T>
  NamedArrays<T> arrays() const;
};

SafetensorsFile load_safetensors(const std::string& path);

}  // namespace pf
