#include <cmath>

#include "engine/ops/elementwise.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("binary ops: gradcheck with equal shapes", "[engine][elementwise][gradcheck]") {
  auto a = random_tensor({3, 4}, 1);
  auto b = random_tensor({3, 4}, 2);
  require_gradcheck([](const Vec& in) { return add(in[0], in[1]); }, {a, b});
  require_gradcheck([](const Vec& in) { return sub(in[0], in[1]); }, {a, b});
  require_gradcheck([](const Vec& in) { return mul(in[0], in[1]); }, {a, b});
  auto c = add_scalar(random_tensor({3, 4}, 3), 3.0).detach();  // keep the divisor away from 0
  require_gradcheck([](const Vec& in) { return div(in[0], in[1]); }, {a, c});
}

TEST_CASE("binary ops: gradcheck with broadcasting", "[engine][elementwise][gradcheck]") {
  auto x = random_tensor({2, 3, 4}, 4);
  auto bias = random_tensor({4}, 5);
  auto col = add_scalar(random_tensor({2, 3, 1}, 6, 0.1), 2.0).detach();
  auto row = random_tensor({1, 4}, 7);
  require_gradcheck([](const Vec& in) { return add(in[0], in[1]); }, {x, bias});
  require_gradcheck([](const Vec& in) { return mul(in[1], in[0]); }, {x, bias});
  require_gradcheck([](const Vec& in) { return div(in[0], in[1]); }, {x, col});
  require_gradcheck([](const Vec& in) { return sub(in[0], in[1]); }, {col, row});  // -> [2,3,4]
  auto s = Tensor<double>::scalar(1.5);
  require_gradcheck([](const Vec& in) { return mul(in[0], in[1]); }, {x, s});
}

TEST_CASE("broadcasting computes the right values", "[engine][elementwise]") {
  auto col = Tensor<double>::from_vector({2, 1}, {1, 2});
  auto row = Tensor<double>::from_vector({3}, {10, 20, 30});
  auto out = add(col, row);
  REQUIRE(out.shape() == Shape{2, 3});
  const std::vector<double> expect{11, 21, 31, 12, 22, 32};
  for (std::size_t i = 0; i < 6; ++i) CHECK(out.data()[i] == expect[i]);
}

TEST_CASE("scalar ops and operators: gradcheck", "[engine][elementwise][gradcheck]") {
  auto a = add_scalar(random_tensor({5}, 8, 0.3), 2.0).detach();
  require_gradcheck([](const Vec& in) { return in[0] * 3.0 + 1.0; }, {a});
  require_gradcheck([](const Vec& in) { return 2.0 / in[0] - in[0] / 4.0; }, {a});
  require_gradcheck([](const Vec& in) { return -in[0]; }, {a});
  require_gradcheck([](const Vec& in) { return pow_scalar(in[0], 2.5); }, {a});
  require_gradcheck([](const Vec& in) { return 1.0 - in[0]; }, {a});
}

TEST_CASE("elementwise functions: gradcheck", "[engine][elementwise][gradcheck]") {
  auto x = random_tensor({4, 5}, 9);
  auto positive = add_scalar(mul(x, x), 0.5).detach();
  require_gradcheck([](const Vec& in) { return pf::exp(in[0]); }, {x});
  require_gradcheck([](const Vec& in) { return pf::log(in[0]); }, {positive});
  require_gradcheck([](const Vec& in) { return pf::sqrt(in[0]); }, {positive});
  require_gradcheck([](const Vec& in) { return pf::tanh(in[0]); }, {x});
  require_gradcheck([](const Vec& in) { return sigmoid(in[0]); }, {x});
  require_gradcheck([](const Vec& in) { return gelu(in[0]); }, {x});
  // relu has a kink at 0: keep inputs away from it
  auto away = add(x, mul_scalar(sigmoid(mul_scalar(x, 50.0)), 0.2)).detach();
  require_gradcheck([](const Vec& in) { return relu(in[0]); }, {away});
}

TEST_CASE("elementwise functions: values", "[engine][elementwise]") {
  auto x = Tensor<double>::from_vector({4}, {-2, -0.5, 0.5, 3});
  auto g = gelu(x);
  CHECK(g.data()[3] == Approx(3 * 0.5 * (1 + std::erf(3 / std::sqrt(2.0)))));
  auto s = sigmoid(Tensor<double>::from_vector({2}, {-800, 800}));
  CHECK(s.data()[0] == Approx(0.0).margin(1e-300));
  CHECK(s.data()[1] == 1.0);
  auto r = relu(x);
  CHECK(r.data()[0] == 0.0);
  CHECK(r.data()[3] == 3.0);
}

TEST_CASE("float32 agrees with float64", "[engine][elementwise]") {
  auto a = random_tensor({3, 4}, 10);
  auto b = random_tensor({4}, 11);
  auto f64 = gelu(pf::tanh(a) * b + pf::exp(a) / (pf::exp(b) + 1.0));
  auto f32 = gelu(pf::tanh(to_float(a)) * to_float(b) +
                  pf::exp(to_float(a)) / (pf::exp(to_float(b)) + 1.0f));
  CHECK(max_mixed_error(f32.value(), f64.value()) < 1e-5);
}

TEST_CASE("shape errors name the op and both shapes", "[engine][elementwise][errors]") {
  auto a = Tensor<double>::zeros({2, 3});
  auto b = Tensor<double>::zeros({4});
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2,3]") && Catch::Contains("[4]"));
  REQUIRE_THROWS_AS(mul(a, Tensor<double>::zeros({3, 3})), std::invalid_argument);
}

TEST_CASE("autodiff accumulates over shared inputs and frees the graph", "[engine][tape]") {
  auto x = Tensor<double>::from_vector({2}, {1.5, -2.0}, true);
  auto y = x * x + x * 3.0;  // dy/dx = 2x + 3
  y.backward();
  CHECK(x.grad().data()[0] == Approx(6.0));
  CHECK(x.grad().data()[1] == Approx(-1.0));
  REQUIRE_THROWS_AS(y.backward(), std::logic_error);  // closures were released
  {
    NoGradGuard no_grad;
    auto z = x * x;
    CHECK_FALSE(z.requires_grad());
  }
  CHECK((x * x).requires_grad());
}
