// Internal kernels over one contiguous row, for the fused row-wise ops (softmax family,
// layer norm, last-axis sums). Not part of the public API.
//
// Why not plain loops: a float reduction `s += x[i]` cannot be vectorised without reordering
// the additions, which the compiler will not do on its own (no -ffast-math), and std::exp is a
// scalar libm call. Sums run on xsimd batches, one partial sum per lane (written as eight scalar
// partial sums, GCC kept them in half a 512-bit register and shuffled every step), and so does
// exp (engine/kernels/simd.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

#include "engine/kernels/simd.hpp"

namespace pf::detail {

// sum_i x[i], with one partial sum per SIMD lane
template <class T>
T row_sum(const T* x, std::size_t n) {
  Batch<T> lanes(T(0));
  std::size_t i = 0;
  for (; i + Batch<T>::size <= n; i += Batch<T>::size) lanes += Batch<T>::load_unaligned(x + i);
  T s = 0;
  for (; i < n; ++i) s += x[i];
  return s + xsimd::hadd(lanes);
}

// sum_i a[i] b[i], as row_sum
template <class T>
T row_dot(const T* a, const T* b, std::size_t n) {
  Batch<T> lanes(T(0));
  std::size_t i = 0;
  for (; i + Batch<T>::size <= n; i += Batch<T>::size)
    lanes = xsimd::fma(Batch<T>::load_unaligned(a + i), Batch<T>::load_unaligned(b + i), lanes);
  T s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  return s + xsimd::hadd(lanes);
}

// lanes[0] op lanes[1] op ... for W lanes as a tree (pairs, then pairs of pairs): log2(W) dependent
// steps instead of W, for reductions whose result does not depend on the grouping (max, min).
template <std::size_t W, class T, class Op>
T fold_lanes(T* lanes, Op op) {
  static_assert((W & (W - 1)) == 0, "a power of two lanes");
  for (std::size_t half = W / 2; half > 0; half /= 2)
    for (std::size_t j = 0; j < half; ++j) lanes[j] = op(lanes[j], lanes[j + half]);
  return lanes[0];
}

// max_i x[i] (-inf for an empty row). On SIMD batches: the compiler will not vectorise
// `m > x ? m : x` itself (its NaN and signed-zero cases keep it from using a vector max), and
// xsimd::max(m, x) is that same expression per lane (x when either is NaN or both are zeros).
template <class T>
T row_max(const T* x, std::size_t n) {
  constexpr std::size_t W = Batch<T>::size;
  T m = -std::numeric_limits<T>::infinity();
  std::size_t i = 0;
  if (n >= W) {
    Batch<T> lane(m);
    for (; i + W <= n; i += W) lane = xsimd::max(lane, Batch<T>::load_unaligned(x + i));
    alignas(64) T lanes[W];
    lane.store_aligned(lanes);
    m = fold_lanes<W>(lanes, [](T a, T b) { return a > b ? a : b; });
  }
  for (; i < n; ++i) m = m > x[i] ? m : x[i];
  return m;
}

// min_i x[i] (+inf for an empty row), as row_max (xsimd::min(m, x) is `m < x ? m : x` per lane).
template <class T>
T row_min(const T* x, std::size_t n) {
  constexpr std::size_t W = Batch<T>::size;
  T m = std::numeric_limits<T>::infinity();
  std::size_t i = 0;
  if (n >= W) {
    Batch<T> lane(m);
    for (; i + W <= n; i += W) lane = xsimd::min(lane, Batch<T>::load_unaligned(x + i));
    alignas(64) T lanes[W];
    lane.store_aligned(lanes);
    m = fold_lanes<W>(lanes, [](T a, T b) { return a < b ? a : b; });
  }
  for (; i < n; ++i) m = m < x[i] ? m : x[i];
  return m;
}

// x[i] = exp(x[i]), in place, on SIMD batches (std::exp is a scalar libm call).
template <class T>
void exp_inplace(T* x, std::size_t n) {
  simd_map(x, x, n, [](const Batch<T>& b) { return xsimd::exp(b); });
}

}  // namespace pf::detail
