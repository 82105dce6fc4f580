#include <cmath>

#include "layers/linear.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("Linear: y = x W^T + b against explicit loops, over leading axes", "[layers][linear]") {
  Rng rng(1);
  Linear<double> fc(5, 3, rng);
  REQUIRE(fc.weight().shape() == Shape{3, 5});
  REQUIRE(fc.bias().shape() == Shape{3});
  auto x = random_tensor({2, 4, 5}, 2);
  auto y = fc(x);
  REQUIRE(y.shape() == Shape{2, 4, 3});
  const double* w = fc.weight().data();
  const double* b = fc.bias().data();
  for (std::size_t r = 0; r < 8; ++r)
    for (std::size_t o = 0; o < 3; ++o) {
      double ref = b[o];
      for (std::size_t i = 0; i < 5; ++i) ref += x.data()[r * 5 + i] * w[o * 5 + i];
      CHECK(y.data()[r * 3 + o] == Approx(ref).epsilon(1e-12));
    }
}

TEST_CASE("Linear: gradcheck of input, weight and bias (batched, with and without bias)", "[layers][linear][gradcheck]") {
  for (bool bias : {true, false}) {
    INFO("bias=" << bias);
    Rng rng(3);
    Linear<double> fc(4, 3, rng, bias);
    Vec inputs = {random_tensor({2, 3, 4}, 4)};
    for (auto& p : fc.parameters()) inputs.push_back(p);
    CHECK(inputs.size() == (bias ? 3u : 2u));
    require_gradcheck([&](const Vec& in) { return fc(in[0]); }, inputs);
  }
}

TEST_CASE("Linear: a single vector is one row; gradcheck", "[layers][linear][gradcheck]") {
  Rng rng(9);
  Linear<double> fc(4, 3, rng);
  auto v = random_tensor({4}, 10);
  auto y = fc(v);
  REQUIRE(y.shape() == Shape{3});
  auto rows = fc(Tensor<double>::from_vector({1, 4}, std::vector<double>(v.data(), v.data() + 4)));
  for (std::size_t o = 0; o < 3; ++o) CHECK(y.data()[o] == rows.data()[o]);
  Vec inputs = {v};
  for (auto& p : fc.parameters()) inputs.push_back(p);
  require_gradcheck([&](const Vec& in) { return fc(in[0]); }, inputs);
}

TEST_CASE("Linear: PyTorch initialisation bounds", "[layers][linear]") {
  Rng rng(5);
  Linear<float> fc(64, 32, rng);
  const float bound = 1.0f / 8.0f;
  float lo = 1, hi = -1;
  for (float v : fc.weight().value()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(lo < -0.9f * bound);  // the whole range is used
  CHECK(hi > 0.9f * bound);
  for (float v : fc.bias().value()) CHECK(std::abs(v) <= bound);
}

TEST_CASE("Linear: float32 agrees with float64", "[layers][linear]") {
  Rng r64(6), r32(6);
  Linear<double> f64(7, 5, r64);
  Linear<float> f32(7, 5, r32);
  // Same seed, same draws (up to rounding): copy the double weights exactly to be sure.
  NamedArrays<float> state;
  for (auto& [name, t] : f64.named_state()) state.emplace_back(name, to_float(t).value());
  f32.load_state(state);
  auto x = random_tensor({3, 7}, 7);
  CHECK(max_mixed_error(f32(to_float(x)).value(), f64(x).value()) < 1e-5);
}

TEST_CASE("Linear: shape errors", "[layers][linear][errors]") {
  Rng rng(8);
  Linear<double> fc(4, 3, rng);
  CHECK_THROWS_WITH(fc(Tensor<double>::zeros({2, 5})), Catch::Contains("Linear") && Catch::Contains("[2,5]") &&
                                                          Catch::Contains("4"));
  CHECK_THROWS_AS(fc(Tensor<double>::zeros({5})), std::invalid_argument);
  CHECK_THROWS_AS(fc(Tensor<double>::scalar(1.0)), std::invalid_argument);
  CHECK_THROWS_AS(Linear<double>(0, 3, rng), std::invalid_argument);
}
