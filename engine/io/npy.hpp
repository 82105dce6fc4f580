// NumPy .npy files: one float32/float64 array each, so arrays move to and from numpy
// (np.load / np.save) without any other library.
//
// Written: format version 1.0, descr '<f4' or '<f8', fortran_order False (C order), the header
// padded with spaces to a multiple of 64 bytes and ended by '\n' (as numpy writes it); atomic
// (temporary file + fsync + rename).
// Read: versions 1.0, 2.0 and 3.0, '<f4' or '<f8', C order. The values are converted to T
// (exact for '<f4' -> double; '<f8' -> float rounds to nearest). Anything else (bad magic,
// header beyond the file, unparsable header, other dtypes, Fortran order, data size not matching
// the shape) is a std::runtime_error naming the file and the problem, and so is a NaN or Inf in
// the data (engine/io/finite.hpp; allow_non_finite(true) lets it through).
//
//   pf::save_npy("x.npy", tensor.value());
//   pf::Array<float> x = pf::load_npy<float>("x.npy");
#pragma once

#include <string>

#include "engine/core/tensor.hpp"

namespace pf {

template <class T>
void save_npy(const std::string& path, const Array<T>& array);
template <class T>
Array<T> load_npy(const std::string& path);

}  // namespace pf
