// Shared helpers for the test suite.
#pragma once

#include <catch2/catch.hpp>

#include "engine/core/gradcheck.hpp"
#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"

namespace pf::test {

// Fails the test (printing gradcheck's report) unless every input's max relative error <= tol.
inline void require_gradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                              double tol = 1e-6) {
  GradcheckOptions opt;
  opt.tolerance = tol;
  const GradcheckResult r = gradcheck(f, inputs, opt);
  INFO(r.report());
  REQUIRE(r.passed);
}

// A random double tensor with gradient tracking off (gradcheck turns it on).
inline Tensor<double> random_tensor(const Shape& shape, std::uint64_t seed, double stddev = 1.0) {
  Rng rng(seed);
  return randn<double>(shape, rng, stddev);
}

// Float copy of a double tensor.
inline Tensor<float> to_float(const Tensor<double>& t) {
  Array<float> a = empty_array<float>(t.shape());
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<float>(t.data()[i]);
  return Tensor<float>(std::move(a));
}

// max |a - b| / (1 + |b|) over all elements; shapes must agree.
inline double max_mixed_error(const Array<float>& a, const Array<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - b.data()[i]) / (1.0 + std::abs(b.data()[i])));
  return worst;
}

}  // namespace pf::test
