// Forward values of the elementwise functions against an independent oracle: the C library's
// functions in long double, and GELU written from its definition x Phi(x) with Phi through long-double
// std::erfc (the engine's is xsimd's erfc on batches, engine/kernels/gelu.hpp). The float32-vs-float64 tests run one template twice, so a wrong formula
// would pass them; these would not. Inputs cover each function's range, in arrays long enough
// for the SIMD batches and a scalar tail.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/ops/elementwise.hpp"

using namespace pf;

namespace {

// n values spread over [lo, hi] (geometrically when `geometric`, for positive ranges).
std::vector<long double> inputs(long double lo, long double hi, bool geometric = false, std::size_t n = 1003) {
  std::vector<long double> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const long double t = (long double)i / (long double)(n - 1);
    x[i] = geometric ? lo * std::pow(hi / lo, t) : lo + (hi - lo) * t;
  }
  return x;
}

// Largest relative error of f against the oracle over x, in units of the type's epsilon, each
// divided by the error allowed at that x (the result must stay below 1).
template <class T>
double worst_ulps(const std::function<Tensor<T>(const Tensor<T>&)>& f, const std::function<long double(long double)>& oracle,
                  const std::vector<long double>& x, const std::function<double(long double)>& allowed,
                  long double* where) {
  std::vector<T> values(x.begin(), x.end());
  const Tensor<T> out = f(Tensor<T>::from_vector({values.size()}, values));
  double worst = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const long double ref = oracle((long double)values[i]);  // the input as the type holds it
    const long double denom = std::max(std::fabs(ref), (long double)std::numeric_limits<T>::min());
    const double ulps = double(std::fabs((long double)out.data()[i] - ref) / denom / std::numeric_limits<T>::epsilon()) /
                        allowed((long double)values[i]);
    if (ulps > worst) {
      worst = ulps;
      *where = values[i];
    }
  }
  return worst;
}

struct Case {
  std::string name;
  std::function<Tensor<float>(const Tensor<float>&)> f32;
  std::function<Tensor<double>(const Tensor<double>&)> f64;
  std::function<long double(long double)> oracle;
  std::vector<long double> x;
  double p = 0;  // pow's exponent (0: not pow)
  double ulps32 = 4, ulps64 = 4;  // allowed besides pow's share
};

// A few ulp is what a good vector math library gives; a wrong formula is off by far more. pow is
// e^{p ln x}: rounding p ln x to the type costs |p ln x| ulp of the result, allowed on top.
// GELU's tail x Phi(x), x << 0, rests on xsimd's erfc: measured ~5e-6 relative in float32 and
// ~5e-12 in float64 (64 and 45000 ulp), where 1 + erf would have lost every digit.
template <class T>
double allowed_ulps(const Case& c, long double x) {
  return (sizeof(T) == 4 ? c.ulps32 : c.ulps64) + (c.p != 0 ? std::fabs(c.p * std::log(std::fabs(x))) : 0);
}

long double gelu_oracle(long double x) { return x * 0.5L * std::erfc(-x / std::sqrt(2.0L)); }

}  // namespace

TEST_CASE("elementwise functions agree with long-double std:: functions", "[engine][elementwise][oracle]") {
  const std::vector<Case> cases = {
      {"exp", [](auto& a) { return pf::exp(a); }, [](auto& a) { return pf::exp(a); },
       [](long double x) { return std::exp(x); }, inputs(-80, 80)},
      {"log", [](auto& a) { return pf::log(a); }, [](auto& a) { return pf::log(a); },
       [](long double x) { return std::log(x); }, inputs(1e-30L, 1e30L, true)},
      {"sqrt", [](auto& a) { return pf::sqrt(a); }, [](auto& a) { return pf::sqrt(a); },
       [](long double x) { return std::sqrt(x); }, inputs(1e-30L, 1e30L, true)},
      {"tanh", [](auto& a) { return pf::tanh(a); }, [](auto& a) { return pf::tanh(a); },
       [](long double x) { return std::tanh(x); }, inputs(-20, 20)},
      {"sigmoid", [](auto& a) { return sigmoid(a); }, [](auto& a) { return sigmoid(a); },
       [](long double x) { return 1 / (1 + std::exp(-x)); }, inputs(-60, 60)},
      {"gelu", [](auto& a) { return gelu(a); }, [](auto& a) { return gelu(a); }, gelu_oracle, inputs(-9, 9), 0, 64, 45000},
      {"pow 0.5", [](auto& a) { return pow_scalar(a, 0.5f); }, [](auto& a) { return pow_scalar(a, 0.5); },
       [](long double x) { return std::pow(x, 0.5L); }, inputs(1e-10L, 1e10L, true), 0.5},
      {"pow 3", [](auto& a) { return pow_scalar(a, 3.0f); }, [](auto& a) { return pow_scalar(a, 3.0); },
       [](long double x) { return x * x * x; }, inputs(-100, 100), 3},
      {"pow -1.5", [](auto& a) { return pow_scalar(a, -1.5f); }, [](auto& a) { return pow_scalar(a, -1.5); },
       [](long double x) { return std::pow(x, -1.5L); }, inputs(1e-6L, 1e6L, true), -1.5},
  };
  for (const Case& c : cases) {
    long double at32 = 0, at64 = 0;
    const double u32 = worst_ulps<float>(c.f32, c.oracle, c.x, [&](long double x) { return allowed_ulps<float>(c, x); }, &at32);
    const double u64 = worst_ulps<double>(c.f64, c.oracle, c.x, [&](long double x) { return allowed_ulps<double>(c, x); }, &at64);
    INFO(c.name << ": worst error / allowed error: float32 " << u32 << " at x = " << double(at32) << ", float64 " << u64
                << " at x = " << double(at64));
    CHECK(u32 < 1);
    CHECK(u64 < 1);
  }
}
