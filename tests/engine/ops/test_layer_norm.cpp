#include <cmath>

#include "composite_twin.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/layer_norm.hpp"
#include "engine/ops/reduce.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

// The composite twin: centred values over their root mean square, from primitives.
static Tensor<double> layer_norm_twin(const Tensor<double>& x, const Tensor<double>& gamma,
                                      const Tensor<double>& beta, double eps) {
  auto centred = x - mean(x, -1, true);
  auto var = mean(centred * centred, -1, true);
  return centred / pf::sqrt(var + eps) * gamma + beta;
}

TEST_CASE("layer_norm rows have zero mean and unit variance before the affine", "[engine][layer_norm]") {
  auto x = random_tensor({3, 4, 8}, 1, 3.0);
  auto y = layer_norm(x, Tensor<double>::ones({8}), Tensor<double>::zeros({8}), 0.0);
  REQUIRE(y.shape() == x.shape());
  for (std::size_t r = 0; r < 12; ++r) {
    double m = 0, v = 0;
    for (std::size_t c = 0; c < 8; ++c) m += y.data()[r * 8 + c] / 8;
    for (std::size_t c = 0; c < 8; ++c) v += (y.data()[r * 8 + c] - m) * (y.data()[r * 8 + c] - m) / 8;
    CHECK(m == Approx(0.0).margin(1e-14));
    CHECK(v == Approx(1.0).epsilon(1e-12));
  }
  // gamma scales and beta shifts each column
  auto gamma = random_tensor({8}, 2), beta = random_tensor({8}, 3);
  auto z = layer_norm(x, gamma, beta, 0.0);
  for (std::size_t i = 0; i < z.numel(); ++i)
    CHECK(z.data()[i] == Approx(y.data()[i] * gamma.data()[i % 8] + beta.data()[i % 8]).epsilon(1e-12));
}

TEST_CASE("layer_norm: gradcheck of x, gamma and beta", "[engine][layer_norm][gradcheck]") {
  auto x = random_tensor({2, 3, 6}, 4);
  auto gamma = random_tensor({6}, 5), beta = random_tensor({6}, 6);
  require_gradcheck([](const Vec& in) { return layer_norm(in[0], in[1], in[2]); }, {x, gamma, beta});
  auto row = random_tensor({5}, 7);
  require_gradcheck([](const Vec& in) { return layer_norm(in[0], in[1], in[2], 1e-3); },
                    {row, random_tensor({5}, 8), random_tensor({5}, 9)});
}

TEST_CASE("layer_norm matches its composite twin", "[engine][layer_norm][twin]") {
  auto x = random_tensor({3, 5, 16}, 10, 2.0);
  auto gamma = random_tensor({16}, 11), beta = random_tensor({16}, 12);
  for (double eps : {1e-5, 0.5}) {
    INFO("eps " << eps);
    require_twin_match([=](const Vec& in) { return layer_norm(in[0], in[1], in[2], eps); },
                       [=](const Vec& in) { return layer_norm_twin(in[0], in[1], in[2], eps); }, {x, gamma, beta});
  }
}

TEST_CASE("layer_norm is shift invariant even with a large offset", "[engine][layer_norm][numerics]") {
  auto x = random_tensor({4, 32}, 13);
  auto g = Tensor<double>::ones({32}), b = Tensor<double>::zeros({32});
  auto shifted = layer_norm(x + 1e4, g, b);
  auto plain = layer_norm(x, g, b);
  CHECK(max_twin_error(shifted.value(), plain.value()) < 1e-9);
  auto xf = to_float(x) + 1e3f;
  CHECK(max_mixed_error(layer_norm(xf, to_float(g), to_float(b)).value(), plain.value()) < 1e-3);
}

TEST_CASE("layer_norm: float32 agrees with float64", "[engine][layer_norm]") {
  auto x = random_tensor({4, 7, 24}, 14);
  auto gamma = random_tensor({24}, 15), beta = random_tensor({24}, 16);
  auto y64 = layer_norm(x, gamma, beta);
  auto y32 = layer_norm(to_float(x), to_float(gamma), to_float(beta));
  CHECK(max_mixed_error(y32.value(), y64.value()) < 1e-5);
}

TEST_CASE("layer_norm: errors name the op and the shapes", "[engine][layer_norm][errors]") {
  auto x = Tensor<double>::zeros({2, 4});
  REQUIRE_THROWS_WITH(layer_norm(x, Tensor<double>::ones({5}), Tensor<double>::zeros({4})),
                      Catch::Contains("layer_norm") && Catch::Contains("[5]") && Catch::Contains("[2,4]"));
  REQUIRE_THROWS_WITH(layer_norm(x, Tensor<double>::ones({4}), Tensor<double>::zeros({1, 4})),
                      Catch::Contains("layer_norm") && Catch::Contains("[1,4]"));
  REQUIRE_THROWS_WITH(layer_norm(Tensor<double>::scalar(1), Tensor<double>::ones({1}), Tensor<double>::zeros({1})),
                      Catch::Contains("layer_norm") && Catch::Contains("[]"));
  REQUIRE_THROWS_WITH(layer_norm(x, Tensor<double>::ones({4}), Tensor<double>::zeros({4}), -1.0),
                      Catch::Contains("layer_norm") && Catch::Contains("eps"));
}
