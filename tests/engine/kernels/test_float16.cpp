// float16 (IEEE binary16) conversions: known encodings of special values, every one of the 65536
// bit patterns against the format's formula, float32 -> float16 as the nearest value (ties to
// even) over a sweep of float32, the hardware conversion (F16C) where the build has it, and the
// SIMD widening load against the scalar one.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "engine/kernels/float16.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

float float_of_bits(std::uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

// The value of a float16 pattern from the format's definition (sign, 5-bit exponent bias 15,
// 10-bit mantissa), in double.
double float16_value(std::uint32_t h) {
  const int sign = (h >> 15) ? -1 : 1, e = int((h >> 10) & 0x1f), m = int(h & 0x3ff);
  if (e == 31) return m == 0 ? sign * std::numeric_limits<double>::infinity() : std::nan("");
  if (e == 0) return sign * std::ldexp(double(m), -24);
  return sign * std::ldexp(1.0 + m / 1024.0, e - 15);
}

// Counts failed conditions of a sweep and keeps the first one's description (a Catch assertion
// per value of a sweep of millions would dominate the test's time).
struct Sweep {
  std::size_t failures = 0;
  std::string first;
  template <class Describe>
  void expect(bool ok, Describe describe) {
    if (ok) return;
    if (failures++ == 0) first = describe();
  }
};

}  // namespace

TEST_CASE("float16: special values encode as the standard says", "[kernels][float16]") {
  CHECK(float16_from_float(0.0f) == 0x0000);
  CHECK(float16_from_float(-0.0f) == 0x8000);
  CHECK(float16_from_float(1.0f) == 0x3c00);
  CHECK(float16_from_float(-2.0f) == 0xc000);
  CHECK(float16_from_float(65504.0f) == 0x7bff);                           // the largest finite
  CHECK(float16_from_float(std::nextafter(65520.0f, 0.0f)) == 0x7bff);     // below the halfway point
  CHECK(float16_from_float(65520.0f) == 0x7c00);                           // halfway: ties to even = inf
  CHECK(float16_from_float(-1e6f) == 0xfc00);
  CHECK(float16_from_float(std::numeric_limits<float>::infinity()) == 0x7c00);
  const float16_bits nan = float16_from_float(std::numeric_limits<float>::quiet_NaN());
  CHECK((nan & 0x7c00) == 0x7c00);
  CHECK((nan & 0x03ff) != 0);
  CHECK(float16_from_float(std::ldexp(1.0f, -14)) == 0x0400);              // the smallest normal
  CHECK(float16_from_float(std::ldexp(1.0f, -24)) == 0x0001);              // the smallest subnormal
  CHECK(float16_from_float(std::ldexp(1023.0f, -24)) == 0x03ff);           // the largest subnormal
  CHECK(float16_from_float(std::ldexp(1023.5f, -24)) == 0x0400);           // tie: to the even one
  CHECK(float16_from_float(std::ldexp(1.0f, -25)) == 0x0000);              // tie between 0 and 2^-24
  CHECK(float16_from_float(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(float16_from_float(std::ldexp(3.0f, -25)) == 0x0002);              // tie between 1 and 2 ulps
  CHECK(float16_from_float(-std::ldexp(1.0f, -26)) == 0x8000);             // underflow keeps the sign
  CHECK(float16_from_float(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);       // tie: stays at even 1.0
  CHECK(float16_from_float(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);   // tie: up to even
  CHECK(float_from_float16(0x8000) == 0.0f);
  CHECK(std::signbit(float_from_float16(0x8000)));
  CHECK(float_from_float16(0x7bff) == 65504.0f);
  CHECK(float_from_float16(0x0001) == std::ldexp(1.0f, -24));
  CHECK(std::isinf(float_from_float16(0xfc00)));
  CHECK(std::isnan(float_from_float16(0x7e00)));
}

TEST_CASE("float16: every pattern widens to the format's value and rounds back to itself", "[kernels][float16]") {
  Sweep sweep;
  std::size_t nans = 0;
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = float_from_float16(float16_bits(h));
    const double want = float16_value(h);
    const auto where = [&] { return "pattern " + std::to_string(h) + " -> " + std::to_string(f); };
    if (std::isnan(want)) {
      ++nans;
      sweep.expect(std::isnan(f) && std::isnan(float_from_float16(float16_from_float(f))), where);
      continue;
    }
    sweep.expect(double(f) == want && std::signbit(f) == bool(h & 0x8000) && float16_from_float(f) == h, where);
  }
  INFO(sweep.first);
  CHECK(sweep.failures == 0);
  CHECK(nans == 2 * 1023);  // exponent 31 with a nonzero mantissa, both signs
}

// For a float32 x of magnitude below 65520, the result h must be a nearest float16: no closer value
// at h - 1 or h + 1 (float16 values are monotonic in the pattern within a sign), and on a tie the
// even pattern. Every 1021st float32 pattern, both signs, plus every float16 midpoint exactly.
TEST_CASE("float16: float32 rounds to the nearest float16, ties to even", "[kernels][float16]") {
  Sweep sweep;
  const auto check = [&](float x) {
    const float16_bits h = float16_from_float(x);
    const std::uint32_t magnitude = h & 0x7fff, sign = h & 0x8000;
    const double value = float16_value(h), error = std::abs(double(x) - value);
    const auto where = [&] { return "x " + std::to_string(x) + " -> pattern " + std::to_string(h); };
    sweep.expect(std::signbit(value) == std::signbit(x), where);
    for (const std::uint32_t neighbour : {magnitude - 1, magnitude + 1}) {
      if (neighbour > 0x7bff) continue;  // below 0 (wrapped) or past the largest finite
      const double other = std::abs(double(x) - float16_value(sign | neighbour));
      sweep.expect(error < other || (error == other && (magnitude & 1) == 0), where);
    }
  };
  const std::uint32_t limit = 0x477ff000u;  // 65520
  for (std::uint32_t a = 0; a < limit; a += 1021) {
    check(float_of_bits(a));
    check(float_of_bits(a | 0x80000000u));
  }
  for (std::uint32_t h = 0; h < 0x7bff; ++h) {  // midpoints between neighbours: exact ties
    const float mid = float((float16_value(h) + float16_value(h + 1)) / 2);
    sweep.expect(double(mid) == (float16_value(h) + float16_value(h + 1)) / 2, [] { return "inexact midpoint"; });
    check(mid);
    check(-mid);
  }
  for (std::uint32_t a = limit; a < 0x7f800000u; a += 65537)
    sweep.expect(float16_from_float(float_of_bits(a)) == 0x7c00, [&] { return "no inf for " + std::to_string(a); });
  INFO(sweep.first);
  CHECK(sweep.failures == 0);
}

#if defined(__F16C__)
TEST_CASE("float16: the scalar conversion equals the F16C instruction", "[kernels][float16]") {
  Sweep sweep;
  for (std::uint32_t a = 0; a <= 0x7f800000u; a += 997)  // every 997th finite pattern (incl. overflow)
    for (const std::uint32_t x : {a, a | 0x80000000u}) {
      const float f = float_of_bits(x);
      sweep.expect(float16_from_float(f) == _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT),
                   [&] { return "float32 bits " + std::to_string(x); });
    }
  INFO(sweep.first);
  CHECK(sweep.failures == 0);
}
#endif

TEST_CASE("float16: the SIMD widening load equals the scalar conversion on every pattern", "[kernels][float16]") {
  using Batch = xsimd::batch<float>;
  Sweep sweep;
  std::vector<float16_bits> all(0x10000);
  for (std::uint32_t h = 0; h < 0x10000; ++h) all[h] = float16_bits(h);
  for (std::size_t i = 0; i + Batch::size <= all.size(); i += Batch::size) {
    alignas(64) float fast[Batch::size], slow[Batch::size];
    load_float16(all.data() + i).store_aligned(fast);
    load_float16_scalar(all.data() + i).store_aligned(slow);
    for (std::size_t j = 0; j < Batch::size; ++j)
      sweep.expect(std::isnan(slow[j]) ? std::isnan(fast[j]) : std::memcmp(&fast[j], &slow[j], sizeof(float)) == 0,
                   [&] { return "pattern " + std::to_string(i + j); });
  }
  INFO(sweep.first);
  CHECK(sweep.failures == 0);
}
