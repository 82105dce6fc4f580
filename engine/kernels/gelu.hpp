// GELU(x) = x Phi(x) and its slope GELU'(x) = Phi(x) + x phi(x) on SIMD batches: the one formula
// of the elementwise op (engine/ops/elementwise.cpp), gelu_affine (engine/ops/affine.cpp) and
// the generation decoder (models/performer_decoder.cpp), so their values are bit-identical.
//   Phi(x) = erfc(-x / sqrt 2) / 2,  phi(x) = e^{-x^2/2} / sqrt(2 pi).
// Phi through erfc, not (1 + erf(x / sqrt 2)) / 2: for x << 0 the latter cancels to 0 (float32
// loses every digit below x ~ -5), erfc keeps the tail's relative accuracy.
#pragma once

#include <cmath>

#include <xsimd/xsimd.hpp>

namespace pf::detail {

// 2 Phi(x) = erfc(-x / sqrt 2), the costly part of both.
template <class T>
xsimd::batch<T> twice_cdf(xsimd::batch<T> x) {
  return xsimd::erfc(x * T(-M_SQRT1_2));
}

template <class T>
xsimd::batch<T> gelu_from(xsimd::batch<T> x, xsimd::batch<T> two_cdf) {
  return x * T(0.5) * two_cdf;
}

template <class T>
xsimd::batch<T> gelu_slope_from(xsimd::batch<T> x, xsimd::batch<T> two_cdf) {
  const xsimd::batch<T> pdf = xsimd::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
  return T(0.5) * two_cdf + x * pdf;
}

template <class T>
xsimd::batch<T> gelu(xsimd::batch<T> x) {
  return gelu_from(x, twice_cdf(x));
}

template <class T>
xsimd::batch<T> gelu_slope(xsimd::batch<T> x) {
  return gelu_slope_from(x, twice_cdf(x));
}

}  // namespace pf::detail
