#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include "engine/ops/elementwise.hpp"
#include "engine/ops/gather.hpp"
#include "engine/ops/shape_ops.hpp"
#include "engine/ops/matmul.hpp"
#include "layers/attention/attention_fixtures.hpp"
#include "layers/attention/feature_maps.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// |x|^2 / 2 per row of [..., d] as [..., 1], from primitives.
Tensor<double> composite_half_sq_norm(const Tensor<double>& x) {
  auto ones = Tensor<double>::ones({x.size(-1), 1});
  return matmul(x * x, ones) * 0.5;
}

// |x^|^2 = |x|^2 / sqrt(d) of row (b, l) of a [B, L, d] tensor.
double x_sq(const Tensor<double>& x, std::size_t b, std::size_t l) {
  const std::size_t d = x.size(-1);
  double s = 0;
  for (std::size_t t = 0; t < d; ++t) s += x.value()(b, l, t) * x.value()(b, l, t);
  return s / std::sqrt(double(d));
}

}  // namespace

TEST_CASE("feature maps: gradcheck with every stabiliser", "[layers][features][gradcheck]") {
  auto x = random_tensor({2, 3, 5, 4}, 1);
  auto w = random_tensor({6, 4}, 2);
  for (Stabiliser st : {Stabiliser::none, Stabiliser::row_max, Stabiliser::slice_max}) {
    INFO("stabiliser " << int(st));
    require_gradcheck([&](const Vec& in) { return positive_features(in[0], w, st, 1e-4); }, {x});
    require_gradcheck([&](const Vec& in) { return hyperbolic_features(in[0], w, st, 1e-4); }, {x});
  }
  require_gradcheck([&](const Vec& in) { return trig_features(in[0], w); }, {x});
  // 100 rows: the backward sends B through W in blocks of 96 rows, so a full and a ragged one.
  require_gradcheck([&](const Vec& in) { return trig_features(in[0], w); }, {random_tensor({1, 100, 4}, 3, 0.5)});
  require_gradcheck([&](const Vec& in) { return generalized_features(in[0], w, FeatureFunction::relu(), 1e-3); },
                    {x});
  require_gradcheck([&](const Vec& in) { return generalized_features(in[0], w, softplus_fn(), 1e-3); }, {x});
  const auto no_projection = Tensor<double>::zeros({0, 4});
  require_gradcheck(
      [&](const Vec& in) { return generalized_features(in[0], no_projection, softplus_fn(), 1e-3); }, {x});
}

TEST_CASE("feature maps: the input gradient is written fresh or added to what x already holds",
          "[layers][features]") {
  // The maps' backward writes dx with beta 0 when x has no gradient yet (Node::grad_target) and
  // adds with beta 1 when it has one: with x's gradient preset to 1, it must come out as 1 + the
  // gradient the map gives alone.
  const auto x0 = random_tensor({2, 3, 5, 4}, 31);
  const auto w = random_tensor({6, 4}, 32);
  using Map = std::function<Tensor<double>(const Tensor<double>&)>;
  const std::vector<std::pair<const char*, Map>> maps = {
      {"positive", [&](const Tensor<double>& x) { return positive_features(x, w, Stabiliser::row_max, 1e-4); }},
      {"hyperbolic", [&](const Tensor<double>& x) { return hyperbolic_features(x, w, Stabiliser::slice_max, 1e-4); }},
      {"trig", [&](const Tensor<double>& x) { return trig_features(x, w); }},
      {"relu", [&](const Tensor<double>& x) { return generalized_features(x, w, FeatureFunction::relu(), 1e-3); }}};
  for (const auto& [name, map] : maps) {
    INFO(name);
    Tensor<double> alone(x0.value(), true);
    map(alone).backward(filled_array<double>(map(alone).shape(), 1.0));
    Tensor<double> x(x0.value(), true);
    std::fill(x.grad_mut().begin(), x.grad_mut().end(), 1.0);
    map(x).backward(filled_array<double>(map(x).shape(), 1.0));
    double worst = 0, largest = 0;
    for (std::size_t i = 0; i < x.numel(); ++i) {
      worst = std::max(worst, std::abs(x.grad().data()[i] - (1.0 + alone.grad().data()[i])));
      largest = std::max(largest, std::abs(alone.grad().data()[i]));
    }
    CHECK(largest > 1e-3);  // the map's own gradient is not zero
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("feature maps: fused backward equals autodiff through primitives", "[layers][features][twin]") {
  auto x = random_tensor({3, 7, 5}, 3).set_requires_grad();
  auto w = random_tensor({9, 5}, 4);
  const double norm = std::pow(5.0, -0.25), eps = 1e-3;
  auto seed = random_tensor({3, 7, 9}, 5).value();
  auto grad_of = [&](Tensor<double> out) {
    x.zero_grad();
    out.backward(seed);
    return Array<double>(x.grad());
  };
  SECTION("positive, no stabiliser") {
    auto fused = positive_features(x, w, Stabiliser::none, eps);
    const Array<double> g_fused = grad_of(fused);
    auto xh = x * norm;
    auto twin = (exp(matmul(xh, w, false, true) - composite_half_sq_norm(xh)) + eps) * (1 / std::sqrt(9.0));
    CHECK(max_abs_diff(fused.value(), twin.value()) < 1e-12);
    CHECK(max_abs_diff(g_fused, grad_of(twin)) < 1e-10);
  }
  SECTION("relu") {
    auto fused = generalized_features(x, w, FeatureFunction::relu(), eps);
    const Array<double> g_fused = grad_of(fused);
    auto twin = relu(matmul(x * norm, w, false, true)) * (1 / std::sqrt(9.0)) + eps;
    CHECK(max_abs_diff(fused.value(), twin.value()) < 1e-12);
    CHECK(max_abs_diff(g_fused, grad_of(twin)) < 1e-10);
  }
}

TEST_CASE("feature maps: the fused exponential maps with stabilisers equal autodiff through primitives",
          "[layers][features][twin]") {
  // 2 slices of 150 rows: the fused forward works in blocks of 96 rows, so blocks cross slices.
  const std::size_t slices = 2, len = 150, d = 6, m = 20;
  auto x = random_tensor({slices, len, d}, 11, 1.5).set_requires_grad();
  auto w = random_tensor({m, d}, 12);
  const double norm = std::pow(double(d), -0.25), eps = 1e-3;
  auto seed = random_tensor({slices, len, m}, 13).value(), seed2 = random_tensor({slices, len, 2 * m}, 14).value();
  auto grad_of = [&](Tensor<double> out) {
    x.zero_grad();
    out.backward(out.size(-1) == m ? seed : seed2);
    return Array<double>(x.grad());
  };
  // Values to 1e-12 and gradients to 1e-10.
  auto expect_twin = [&](const Tensor<double>& fused, const Tensor<double>& twin) {
    CHECK(max_abs_diff(fused.value(), twin.value()) < 1e-12);
    const Array<double> g_fused = grad_of(fused);
    CHECK(max_abs_diff(g_fused, grad_of(twin)) < 1e-10);
  };
  auto xh = x * norm;
  auto u = matmul(xh, w, false, true);  // [slices, len, m]
  const Array<double> uv = u.value();
  // The stabiliser c is u at its argmax (first in row-major order): its gradient flows to that
  // entry only, which take_along_last_axis gives.
  auto features_with = [&](const Tensor<double>& c) {
    return (exp(u - composite_half_sq_norm(xh) - c) + eps) * (1 / std::sqrt(double(m)));
  };
  SECTION("row max") {
    Indices arg = xt::zeros<std::int64_t>({slices, len});
    for (std::size_t s = 0; s < slices; ++s)
      for (std::size_t l = 0; l < len; ++l)
        for (std::size_t j = 1; j < m; ++j)
          if (uv(s, l, j) > uv(s, l, std::size_t(arg(s, l)))) arg(s, l) = std::int64_t(j);
    auto twin = features_with(reshape(take_along_last_axis(u, arg), {slices, len, 1}));
    expect_twin(positive_features(x, w, Stabiliser::row_max, eps), twin);
  }
  SECTION("slice max") {
    Indices arg = xt::zeros<std::int64_t>({slices});
    for (std::size_t s = 0; s < slices; ++s)
      for (std::size_t k = 1; k < len * m; ++k)
        if (uv.data()[s * len * m + k] > uv.data()[s * len * m + std::size_t(arg(s))]) arg(s) = std::int64_t(k);
    auto twin = features_with(reshape(take_along_last_axis(reshape(u, {slices, len * m}), arg), {slices, 1, 1}));
    expect_twin(positive_features(x, w, Stabiliser::slice_max, eps), twin);
  }
  // Hyperbolic: c = max |u|, taken at +u or -u (the first in row-major order, +u before -u).
  auto hyperbolic_with = [&](const Tensor<double>& c) {
    auto shifted = composite_half_sq_norm(xh) + c;
    return (concat<double>({exp(u - shifted), exp(u * -1.0 - shifted)}, -1) + eps) * (1 / std::sqrt(2.0 * m));
  };
  auto signed_u = concat<double>({u, u * -1.0}, -1);  // [slices, len, 2m]: column m + j is -u_j
  // The scan order u_0, -u_0, u_1, -u_1, ... as an index into signed_u.
  auto better = [&](const double* row, std::size_t k, std::size_t best) {
    auto value = [&](std::size_t c) { return c < m ? row[c] : -row[c - m]; };
    return value(k) > value(best);
  };
  auto scan_order = [&](std::size_t t) { return t % 2 == 0 ? t / 2 : m + t / 2; };
  SECTION("hyperbolic, row max") {
    Indices arg = xt::zeros<std::int64_t>({slices, len});
    for (std::size_t s = 0; s < slices; ++s)
      for (std::size_t l = 0; l < len; ++l)
        for (std::size_t t = 1; t < 2 * m; ++t)
          if (better(uv.data() + (s * len + l) * m, scan_order(t), std::size_t(arg(s, l)))) arg(s, l) = std::int64_t(scan_order(t));
    auto twin = hyperbolic_with(reshape(take_along_last_axis(signed_u, arg), {slices, len, 1}));
    expect_twin(hyperbolic_features(x, w, Stabiliser::row_max, eps), twin);
  }
  SECTION("hyperbolic, slice max") {
    Indices arg = xt::zeros<std::int64_t>({slices});  // into signed_u viewed as [slices, len * 2m]
    for (std::size_t s = 0; s < slices; ++s) {
      std::size_t best_row = 0, best_col = 0;
      for (std::size_t l = 0; l < len; ++l)
        for (std::size_t t = 0; t < 2 * m; ++t) {
          const std::size_t c = scan_order(t);
          const double* row = uv.data() + (s * len + l) * m;
          const double v = c < m ? row[c] : -row[c - m];
          const double* best = uv.data() + (s * len + best_row) * m;
          if (v > (best_col < m ? best[best_col] : -best[best_col - m])) best_row = l, best_col = c;
        }
      arg(s) = std::int64_t(best_row * 2 * m + best_col);
    }
    auto twin = hyperbolic_with(reshape(take_along_last_axis(reshape(signed_u, {slices, len * 2 * m}), arg), {slices, 1, 1}));
    expect_twin(hyperbolic_features(x, w, Stabiliser::slice_max, eps), twin);
  }
}

TEST_CASE("feature maps: stabilisers only rescale rows or slices", "[layers][features]") {
  auto x = random_tensor({2, 6, 4}, 6, 2.0);
  auto w = random_tensor({8, 4}, 7);
  auto plain = positive_features(x, w, Stabiliser::none, 0.0).value();
  auto rows = positive_features(x, w, Stabiliser::row_max, 0.0).value();
  auto slices = positive_features(x, w, Stabiliser::slice_max, 0.0).value();
  const double r = 1 / std::sqrt(8.0);
  for (std::size_t b = 0; b < 2; ++b) {
    const double slice_ratio = slices(b, 0, 0) / plain(b, 0, 0);
    double slice_max = 0;
    for (std::size_t l = 0; l < 6; ++l) {
      const double row_ratio = rows(b, l, 0) / plain(b, l, 0);
      double row_max = 0;
      for (std::size_t j = 0; j < 8; ++j) {
        CHECK(rows(b, l, j) / plain(b, l, j) == Approx(row_ratio).epsilon(1e-12));
        CHECK(slices(b, l, j) / plain(b, l, j) == Approx(slice_ratio).epsilon(1e-12));
        row_max = std::max(row_max, rows(b, l, j) * std::exp(0.5 * x_sq(x, b, l)));
        slice_max = std::max(slice_max, slices(b, l, j) * std::exp(0.5 * x_sq(x, b, l)));
      }
      // With c = max u the largest exp(u - c) is 1.
      CHECK(row_max == Approx(r).epsilon(1e-12));
    }
    CHECK(slice_max == Approx(r).epsilon(1e-12));
  }
}

TEST_CASE("feature maps: float32 agrees with float64", "[layers][features]") {
  auto x = random_tensor({2, 5, 8}, 8);
  auto w = random_tensor({16, 8}, 9);
  auto xf = to_float(x), wf = to_float(w);
  CHECK(max_mixed_error(positive_features(xf, wf, Stabiliser::slice_max, 1e-4).value(),
                        positive_features(x, w, Stabiliser::slice_max, 1e-4).value()) < 1e-5);
  CHECK(max_mixed_error(hyperbolic_features(xf, wf, Stabiliser::row_max, 1e-4).value(),
                        hyperbolic_features(x, w, Stabiliser::row_max, 1e-4).value()) < 1e-5);
  CHECK(max_mixed_error(trig_features(xf, wf).value(), trig_features(x, w).value()) < 1e-5);
  CHECK(max_mixed_error(generalized_features(xf, wf, FeatureFunction::relu(), 1e-3).value(),
                        generalized_features(x, w, FeatureFunction::relu(), 1e-3).value()) < 1e-5);
}

TEST_CASE("feature maps: output widths and shape errors", "[layers][features][errors]") {
  auto x = Tensor<double>::ones({2, 3, 4});
  auto w = Tensor<double>::ones({5, 4});
  CHECK(positive_features(x, w, Stabiliser::none, 0.0).shape() == Shape{2, 3, 5});
  CHECK(hyperbolic_features(x, w, Stabiliser::none, 0.0).shape() == Shape{2, 3, 10});
  CHECK(trig_features(x, w).shape() == Shape{2, 3, 10});
  CHECK(generalized_features(x, Tensor<double>::zeros({0, 4}), FeatureFunction::relu(), 0.0).shape() ==
        Shape{2, 3, 4});
  auto bad_w = Tensor<double>::ones({5, 3});
  REQUIRE_THROWS_WITH(positive_features(x, bad_w, Stabiliser::none, 0.0),
                      Catch::Contains("positive_features") && Catch::Contains("[2,3,4]") &&
                          Catch::Contains("[5,3]"));
  REQUIRE_THROWS_WITH(trig_features(Tensor<double>::ones({4}), w), Catch::Contains("trig_features"));
  FeatureFunction no_derivative;
  no_derivative.f = [](double u) { return u * u; };
  REQUIRE_THROWS_AS(generalized_features(x, w, no_derivative, 0.0), std::invalid_argument);
}
