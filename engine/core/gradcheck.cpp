#include "engine/core/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/random.hpp"

namespace pf {
namespace {

Shape unravel(std::size_t index, const Shape& shape) {
  Shape coord(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    coord[k] = index % shape[k];
    index /= shape[k];
  }
  return coord;
}

// sum(out * R) without recording anything.
double weighted_sum(const Tensor<double>& out, const Array<double>& weights) {
  double s = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) s += out.data()[i] * weights.data()[i];
  return s;
}

}  // namespace

std::string GradcheckResult::report() const {
  std::string s = fmt::format("gradcheck {}: max abs error {:.3g}, max rel error {:.3g}\n",
                              passed ? "passed" : "FAILED", max_abs_error, max_rel_error);
  for (const auto& in : inputs)
    s += fmt::format("  input {}: max abs {:.3g}, max rel {:.3g}; worst at {}: analytic {:.10g}, numeric {:.10g}\n",
                     in.input, in.max_abs_error, in.max_rel_error, shape_str(in.worst_coord),
                     in.analytic, in.numeric);
  return s;
}

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor<double>>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor<double>> xs = inputs;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].node()->is_leaf())
      throw std::invalid_argument(fmt::format(
          "gradcheck: input {} is the output of {}, not a leaf; pass leaf tensors", i, xs[i].op_name()));
    xs[i].set_requires_grad(true);
    xs[i].zero_grad();
  }
  Tensor<double> out = f(xs);
  Rng rng(options.seed);
  const Array<double> weights = randn_array<double>(out.shape(), rng);
  if (!out.requires_grad())
    throw std::invalid_argument("gradcheck: the output does not depend on any input through the tape");
  out.backward(weights);

  GradcheckResult result;
  result.passed = true;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    Array<double>& value = xs[i].value();
    const Array<double> analytic = xs[i].grad();
    Array<double> numeric = empty_array<double>(xs[i].shape());
    {
      NoGradGuard no_grad;
      const double h = options.eps;
      auto at = [&](std::size_t j, double x) {
        value.data()[j] = x;
        return weighted_sum(f(xs), weights);
      };
      for (std::size_t j = 0; j < value.size(); ++j) {
        const double saved = value.data()[j];
        const double d1 = at(j, saved + h) - at(j, saved - h);
        if (options.four_point) {
          const double d2 = at(j, saved + 2 * h) - at(j, saved - 2 * h);
          numeric.data()[j] = (8 * d1 - d2) / (12 * h);
        } else {
          numeric.data()[j] = d1 / (2 * h);
        }
        value.data()[j] = saved;
      }
    }
    double scale = 0;
    for (double v : numeric) scale = std::max(scale, std::abs(v));
    const double floor = options.floor_fraction * scale + options.floor_absolute;
    GradcheckInputError err;
    err.input = i;
    std::size_t worst = 0;
    for (std::size_t j = 0; j < value.size(); ++j) {
      const double a = analytic.data()[j], n = numeric.data()[j];
      const double abs_err = std::abs(a - n);
      const double rel_err = abs_err / std::max({std::abs(a), std::abs(n), floor});
      err.max_abs_error = std::max(err.max_abs_error, abs_err);
      if (rel_err > err.max_rel_error || std::isnan(rel_err)) {
        err.max_rel_error = std::isnan(rel_err) ? INFINITY : rel_err;
        worst = j;
      }
    }
    if (value.size() > 0) {
      err.worst_coord = unravel(worst, xs[i].shape());
      err.analytic = analytic.data()[worst];
      err.numeric = numeric.data()[worst];
    }
    result.max_abs_error = std::max(result.max_abs_error, err.max_abs_error);
    result.max_rel_error = std::max(result.max_rel_error, err.max_rel_error);
    result.passed = result.passed && err.max_rel_error <= options.tolerance;
    result.inputs.push_back(err);
  }
  return result;
}

}  // namespace pf
