// IEEE 754 binary16 ("half", float16) storage: bits <-> float32, and a SIMD load that widens
// float16 bits to a batch of float32 in registers.
//
// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Normal values
// 2^(e-15) (1 + m/2^10) for e = 1 .. 30 (2^-14 .. 65504); subnormals m 2^-24 for e = 0;
// e = 31 is inf (m = 0) or NaN. Rounding float32 -> float16 to nearest, ties to even, has
// relative error <= 2^-11 for normal results and absolute error <= 2^-25 in the subnormal range;
// float16 -> float32 is exact. Values of magnitude >= 65520 (halfway between 65504 and 2^16)
// round to inf, as the hardware conversion does: a caller storing weights refuses them first.
//
// The load uses `vcvtph2ps` (AVX-512F: 16 lanes; F16C: 8 lanes) when the build targets it, else
// the scalar conversion; both give the same floats.
// Test: tests/engine/kernels/test_float16.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <xsimd/xsimd.hpp>
#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace pf {

using float16_bits = std::uint16_t;

// Largest finite float16.
constexpr float kFloat16Max = 65504.0f;

// float32 -> float16, round to nearest, ties to even (NaN stays a quiet NaN).
inline float16_bits float16_from_float(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const std::uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a >= 0x7f800000u)  // inf, NaN (keep the top mantissa bits, force quiet)
    return float16_bits(sign | 0x7c00u | (a > 0x7f800000u ? 0x0200u | ((a >> 13) & 0x03ffu) : 0u));
  if (a >= 0x477ff000u) return float16_bits(sign | 0x7c00u);  // >= 65520 rounds past 65504
  if (a >= 0x38800000u) {  // normal result: rebias the exponent (127 -> 15), drop 13 bits rounding
    const std::uint32_t odd = (a >> 13) & 1u;
    return float16_bits(sign | ((a + 0x0fffu + odd - (112u << 23)) >> 13));
  }
  // Subnormal result: value / 2^-24 = mantissa 2^(e - 126), e the float32 biased exponent.
  const std::uint32_t e = a >> 23;
  if (e < 102) return float16_bits(sign);  // below 2^-25: rounds to 0 (2^-25 itself is a tie -> 0)
  const std::uint32_t mantissa = (a & 0x007fffffu) | 0x00800000u, shift = 126 - e;  // 14 .. 24
  std::uint32_t q = mantissa >> shift;
  const std::uint32_t rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1u))) ++q;  // q may become 0x400, the smallest normal
  return float16_bits(sign | q);
}

// float16 -> float32, exact.
inline float float_from_float16(float16_bits h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x03ffu;
  std::uint32_t x;
  if (e == 0) {
    const float magnitude = float(m) * 0x1p-24f;  // exact: m < 2^10, the result is a normal float
    std::memcpy(&x, &magnitude, sizeof x);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112u) << 23) | (m << 13);
  }
  float out;
  std::memcpy(&out, &x, sizeof out);
  return out;
}

// xsimd::batch<float>::size float16 values from p (unaligned) as float32 lanes, converted one by
// one (the fallback of load_float16, and the test's reference for it).
inline xsimd::batch<float> load_float16_scalar(const float16_bits* p) {
  using Batch = xsimd::batch<float>;
  alignas(64) float lanes[Batch::size];
  for (std::size_t i = 0; i < Batch::size; ++i) lanes[i] = float_from_float16(p[i]);
  return Batch::load_aligned(lanes);
}

// xsimd::batch<float>::size float16 values from p (unaligned) as float32 lanes. (A template so
// that only the branch for the batch width in use is compiled.)
template <class Batch = xsimd::batch<float>>
Batch load_float16(const float16_bits* p) {
#if defined(__AVX512F__)
  if constexpr (Batch::size == 16)
    return Batch(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#endif
#if defined(__F16C__)
  if constexpr (Batch::size == 8) return Batch(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#endif
  return load_float16_scalar(p);
}

}  // namespace pf
