#include "engine/kernels/transpose.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace pf {

template <class T>
void transpose_into(MatView<T> dst, MatView<const detail::same_t<T>> src) {
  if (dst.transposed || src.transposed || dst.rows != src.cols || dst.cols != src.rows || dst.ld < dst.cols ||
      src.ld < src.cols)
    throw std::invalid_argument(fmt::format(
        "transpose_into: dst [{},{}] (ld {}{}) cannot hold src [{},{}] (ld {}{}) transposed", dst.rows, dst.cols,
        dst.ld, dst.transposed ? ", a transposed view" : "", src.rows, src.cols, src.ld,
        src.transposed ? ", a transposed view" : ""));
  constexpr int kBlock = 8;
  for (int i0 = 0; i0 < src.rows; i0 += kBlock)
    for (int j0 = 0; j0 < src.cols; j0 += kBlock) {
      const int i1 = std::min(src.rows, i0 + kBlock), j1 = std::min(src.cols, j0 + kBlock);
      if (i1 - i0 == kBlock && j1 - j0 == kBlock) {  // constant bounds: the compiler unrolls
        for (int j = 0; j < kBlock; ++j)
          for (int i = 0; i < kBlock; ++i) dst.row(j0 + j)[i0 + i] = src.row(i0 + i)[j0 + j];
      } else {
        for (int j = j0; j < j1; ++j)
          for (int i = i0; i < i1; ++i) dst.row(j)[i] = src.row(i)[j];
      }
    }
}

template void transpose_into<float>(MatView<float>, MatView<const float>);
template void transpose_into<double>(MatView<double>, MatView<const double>);

}  // namespace pf
