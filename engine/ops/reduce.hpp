// Reductions: sums and means (over everything or one axis) and the inclusive prefix sum.
// Axis loops see a tensor as [outer, n, inner] around the reduced axis, so the innermost loop
// always runs over contiguous memory.
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// Sum of all elements -> shape {}.
template <class T> Tensor<T> sum(const Tensor<T>& a);
// Sum over one axis (negative counts from the end); keepdim keeps it with size 1.
template <class T> Tensor<T> sum(const Tensor<T>& a, int axis, bool keepdim = false);
template <class T> Tensor<T> mean(const Tensor<T>& a);
template <class T> Tensor<T> mean(const Tensor<T>& a, int axis, bool keepdim = false);
// Inclusive prefix sum along `axis`: out[..., k, ...] = sum_{j<=k} a[..., j, ...].
// (The naive causal-attention oracle: it stores every prefix state.)
template <class T> Tensor<T> cumsum(const Tensor<T>& a, int axis);

}  // namespace pf
