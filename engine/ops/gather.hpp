// Gathers by integer index: rows of each batch slice (the batched twin of embedding), or one
// element per row.
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// x [N..., L, d] and index int64 [N..., n] with values in [0, L) (the same leading axes N...,
// possibly none) -> out [N..., n, d]:
//   out[s, i, :] = x[s, index[s, i], :]                 (s runs over the leading axes)
//   dx[s, j, :]  = sum over i with index[s, i] = j of g[s, i, :]   (scatter-add; repeats add up)
// Throws std::invalid_argument naming the shapes, or the bad index and its position.
template <class T> Tensor<T> gather_rows(const Tensor<T>& x, const Indices& index);

// One element per row of the last axis: x [..., n] and index int64 [...] with values in [0, n)
// -> out [...]:
//   out[p] = x[p, index[p]],   dx[p, index[p]] += g[p]
// (numpy's take_along_axis on the last axis, without the kept axis).
template <class T> Tensor<T> take_along_last_axis(const Tensor<T>& x, const Indices& index);

}  // namespace pf
