// gradcheck: compare the analytic gradient (backward) with central differences, in double.
//
// The function may return a tensor of any shape; it is reduced to the scalar sum(out * R) with a
// fixed random R, so every output element takes part. Inputs are perturbed in place, so an
// input can also be a parameter of a layer that `f` uses internally (pass layer.parameters()).
//
//   auto result = pf::gradcheck([&](const std::vector<pf::Tensor<double>>& in) {
//     return my_layer(in[0]);
//   }, {x, w});
//   REQUIRE(result.passed);            // or: fmt::print("{}", result.report());
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/tensor.hpp"

namespace pf {

struct GradcheckOptions {
  // Central differences on 4 points: f'(x) ~ [8(f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / 12h,
  // truncation error ~h^4 f^(5) / 30 and rounding ~1e-16 |f| / h, both ~1e-12 at h = 1e-4; the
  // 2-point formula's h^2 f''' / 6 would be ~1e-10 on the exponential features of FAVOR.
  double eps = 1e-4;
  bool four_point = true;    // false: the 2-point formula [f(x+h) - f(x-h)] / 2h
  double tolerance = 1e-6;   // pass if every input's max relative error is at most this
  // Relative error of one element: |analytic - numeric| / max(|analytic|, |numeric|, floor), with
  // floor = floor_fraction * (largest |numeric| of that input) + floor_absolute, so elements
  // whose true gradient is ~0 (e.g. a key bias under softmax, which is shift-invariant) are
  // judged on the scale of the input's gradient and of the differencing noise (~1e-12), not
  // divided by their own ~0 size.
  double floor_fraction = 1e-3;
  double floor_absolute = 1e-5;
  std::uint64_t seed = 1;    // for the random output weights R
};

struct GradcheckInputError {
  std::size_t input = 0;
  double max_abs_error = 0, max_rel_error = 0;
  Shape worst_coord;         // where the relative error is largest
  double analytic = 0, numeric = 0;  // the two gradients there
};

struct GradcheckResult {
  std::vector<GradcheckInputError> inputs;
  double max_abs_error = 0, max_rel_error = 0;
  bool passed = false;
  // One line per input: errors and the worst element.
  std::string report() const;
};

using GradcheckFn = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace pf
