// Compare a fused op with its composite twin (the same math built from primitive ops, whose
// backward comes from autodiff): values and the gradient of every input must agree.
#pragma once

#include <cmath>
#include <functional>

#include "test_util.hpp"

namespace pf::test {

using TwinFn = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

// max |a - b| / (1 + |b|)
inline double max_twin_error(const Array<double>& a, const Array<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]) / (1.0 + std::abs(b.data()[i])));
  return worst;
}

// Runs both on fresh copies of `inputs`, seeds backward with the same random weights, and
// requires values and all input gradients to agree to `tol`.
inline void require_twin_match(const TwinFn& fused, const TwinFn& composite,
                               const std::vector<Tensor<double>>& inputs, double tol = 1e-10) {
  auto fresh = [&] {
    std::vector<Tensor<double>> xs;
    for (const auto& t : inputs) xs.emplace_back(t.value(), true);
    return xs;
  };
  auto xf = fresh(), xc = fresh();
  Tensor<double> yf = fused(xf), yc = composite(xc);
  REQUIRE(yf.shape() == yc.shape());
  CHECK(max_twin_error(yf.value(), yc.value()) < tol);
  Rng rng(99);
  const Array<double> seed = randn_array<double>(yf.shape(), rng);
  yf.backward(seed);
  yc.backward(seed);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("input " << i);
    CHECK(max_twin_error(xf[i].grad(), xc[i].grad()) < tol);
  }
}

}  // namespace pf::test
