// Shape ops: moving data between layouts without arithmetic. Every result is a fresh contiguous
// row-major array (tensors never alias), so downstream ops can keep using raw loops.
// Their backward passes are pure data movement too: each output element's gradient goes back
// to the one input element it came from.
#pragma once

#include <vector>

#include "engine/core/tensor.hpp"

namespace pf {

// An axis in [-rank, rank) as an index in [0, rank); throws naming `op`, the axis and the shape.
std::size_t normalize_axis(int axis, const Shape& shape, const char* op);
// The coordinates of row-major flat index `index` in `shape` (for error messages: "[1,2]").
Shape unravel_index(std::size_t index, const Shape& shape);

// Same values in row-major order, new shape of equal size.
template <class T> Tensor<T> reshape(const Tensor<T>& a, const Shape& shape);
// out.shape[i] = a.shape[axes[i]]; axes is a permutation of 0..rank-1.
template <class T> Tensor<T> permute(const Tensor<T>& a, const std::vector<std::size_t>& axes);
// reshape(permute(reshape(a, view), axes), shape) as one op (no intermediate kept on the tape).
template <class T>
Tensor<T> permute_as(const Tensor<T>& a, const Shape& view, const std::vector<std::size_t>& axes, const Shape& shape);
// Swap two axes; negative axes count from the end.
template <class T> Tensor<T> transpose(const Tensor<T>& a, int axis0, int axis1);
// Elements [begin, end) along `axis`.
template <class T> Tensor<T> slice(const Tensor<T>& a, int axis, std::size_t begin, std::size_t end);
// Join along `axis`; all other axes must match.
template <class T> Tensor<T> concat(const std::vector<Tensor<T>>& parts, int axis);
// Cut along `axis` into pieces of the given sizes (they must add up to the axis size).
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& a, int axis, const std::vector<std::size_t>& sizes);

}  // namespace pf
