// Internal kernels over one contiguous row, for the fused row-wise ops (softmax family,
// layer norm, last-axis sums). Not part of the public API.
//
// Why not plain loops: a float reduction `s += x[i]` cannot be vectorised without reordering
// the additions, which the compiler will not do on its own (no -ffast-math), and std::exp is a
// scalar libm call. Eight independent partial sums let the compiler use one SIMD register for
// them, and exp for float is written as a branch-free polynomial loop that vectorises.
// (xtensor's xsimd exp was as fast, but g++ 12 warns inside its AVX-512 intrinsics.)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>


namespace pf::detail {

constexpr std::size_t kLanes = 8;

// sum_i x[i]
template <class T>
T row_sum(const T* x, std::size_t n) {
  T lane[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t j = 0; j < kLanes; ++j) lane[j] += x[i + j];
  T s = 0;
  for (; i < n; ++i) s += x[i];
  for (std::size_t j = 0; j < kLanes; ++j) s += lane[j];
  return s;
}

// sum_i a[i] b[i]
template <class T>
T row_dot(const T* a, const T* b, std::size_t n) {
  T lane[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t j = 0; j < kLanes; ++j) lane[j] += a[i + j] * b[i + j];
  T s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (std::size_t j = 0; j < kLanes; ++j) s += lane[j];
  return s;
}

// max_i x[i] (-inf for an empty row)
template <class T>
T row_max(const T* x, std::size_t n) {
  T lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<T>::infinity());
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t j = 0; j < kLanes; ++j) lane[j] = lane[j] > x[i + j] ? lane[j] : x[i + j];
  T m = -std::numeric_limits<T>::infinity();
  for (; i < n; ++i) m = m > x[i] ? m : x[i];
  for (std::size_t j = 0; j < kLanes; ++j) m = m > lane[j] ? m : lane[j];
  return m;
}

// x[i] = exp(x[i]) for x[i] <= 0 (shifted logits: x - max, x - logsumexp), in place.
// Generic T: std::exp (double is the gradient-check type; accuracy first).
template <class T>
void exp_nonpositive_inplace(T* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) x[i] = std::exp(x[i]);
}

// float: a loop the compiler vectorises (std::exp is a scalar libm call). With k = round(x/ln2)
// and r = x - k ln2 (|r| <= ln2/2), exp(x) = 2^k exp(r); exp(r) is a degree-7 Taylor polynomial
// (truncation < 6e-9) and 2^k is written into the exponent bits. Relative error < 3e-7.
// x < -87 (including -inf) gives 0 (the true value is below 1.7e-38); NaN stays NaN.
template <>
inline void exp_nonpositive_inplace<float>(float* x, std::size_t n) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln2 = hi + lo, hi exact
  constexpr float kRound = 12582912.0f;                              // 1.5 * 2^23
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float xc = v > -87.0f ? v : -87.0f;  // NaN and -inf become -87 here, fixed below
    const float k = (xc * kLog2e + kRound) - kRound;  // round to nearest, k in [-126, 0]
    const float r = (xc - k * kLn2Hi) - k * kLn2Lo;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const std::int32_t bits = (static_cast<std::int32_t>(k) + 127) << 23;
    float two_k;
    std::memcpy(&two_k, &bits, sizeof two_k);
    const float y = p * two_k;
    x[i] = v >= -87.0f ? y : (v == v ? 0.0f : v);
  }
}

}  // namespace pf::detail
