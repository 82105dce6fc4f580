// Row gather: pick rows of each batch slice by integer index (the batched twin of embedding).
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// x [N..., L, d] and index int64 [N..., n] with values in [0, L) (the same leading axes N...,
// possibly none) -> out [N..., n, d]:
//   out[s, i, :] = x[s, index[s, i], :]                 (s runs over the leading axes)
//   dx[s, j, :]  = sum over i with index[s, i] = j of g[s, i, :]   (scatter-add; repeats add up)
// Throws std::invalid_argument naming the shapes, or the bad index and its position.
template <class T> Tensor<T> gather_rows(const Tensor<T>& x, const Indices& index);

}  // namespace pf
