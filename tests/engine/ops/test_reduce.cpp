#include <cmath>

#include "engine/ops/reduce.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

// Reference reductions by explicit index arithmetic over a rank-3 array.
static double at3(const Tensor<double>& a, std::size_t i, std::size_t j, std::size_t k) {
  const Shape s = a.shape();
  return a.data()[(i * s[1] + j) * s[2] + k];
}

TEST_CASE("sum and mean of everything", "[engine][reduce]") {
  auto a = random_tensor({3, 4, 5}, 1);
  double want = 0;
  for (std::size_t i = 0; i < a.numel(); ++i) want += a.data()[i];
  auto s = sum(a);
  REQUIRE(s.shape() == Shape{});
  CHECK(s.item() == Approx(want).epsilon(1e-12));
  CHECK(mean(a).item() == Approx(want / 60).epsilon(1e-12));
  require_gradcheck([](const Vec& in) { return sum(in[0]); }, {a});
  require_gradcheck([](const Vec& in) { return mean(in[0]); }, {a});
}

TEST_CASE("sum and mean over an axis match explicit loops", "[engine][reduce]") {
  auto a = random_tensor({3, 4, 5}, 2);
  const std::size_t n[3] = {3, 4, 5};
  for (int axis : {0, 1, 2, -1, -2, -3}) {
    const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + 3 : axis);
    for (bool keepdim : {false, true}) {
      INFO("axis " << axis << " keepdim " << keepdim);
      auto s = sum(a, axis, keepdim);
      auto m = mean(a, axis, keepdim);
      Shape want_shape{3, 4, 5};
      if (keepdim) want_shape[ax] = 1;
      else want_shape.erase(want_shape.begin() + static_cast<long>(ax));
      REQUIRE(s.shape() == want_shape);
      REQUIRE(m.shape() == want_shape);
      // walk the reduced index space in row-major order
      std::size_t out = 0;
      for (std::size_t i = 0; i < (ax == 0 ? 1 : n[0]); ++i)
        for (std::size_t j = 0; j < (ax == 1 ? 1 : n[1]); ++j)
          for (std::size_t k = 0; k < (ax == 2 ? 1 : n[2]); ++k, ++out) {
            double want = 0;
            for (std::size_t r = 0; r < n[ax]; ++r)
              want += at3(a, ax == 0 ? r : i, ax == 1 ? r : j, ax == 2 ? r : k);
            CHECK(s.data()[out] == Approx(want).epsilon(1e-12));
            CHECK(m.data()[out] == Approx(want / double(n[ax])).epsilon(1e-12));
          }
    }
  }
}

TEST_CASE("sum and mean over an axis: gradcheck", "[engine][reduce][gradcheck]") {
  auto a = random_tensor({2, 3, 4}, 3);
  for (int axis : {0, 1, -1})
    for (bool keepdim : {false, true}) {
      INFO("axis " << axis << " keepdim " << keepdim);
      require_gradcheck([=](const Vec& in) { return sum(in[0], axis, keepdim); }, {a});
      require_gradcheck([=](const Vec& in) { return mean(in[0], axis, keepdim); }, {a});
    }
  auto v = random_tensor({6}, 4);
  require_gradcheck([](const Vec& in) { return sum(in[0], 0); }, {v});  // -> shape {}
}

TEST_CASE("cumsum is an inclusive prefix sum on every axis", "[engine][reduce]") {
  auto a = random_tensor({3, 4, 5}, 5);
  const std::size_t n[3] = {3, 4, 5};
  for (int axis : {0, 1, 2, -1}) {
    const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + 3 : axis);
    INFO("axis " << axis);
    auto c = cumsum(a, axis);
    REQUIRE(c.shape() == a.shape());
    for (std::size_t i = 0; i < n[0]; ++i)
      for (std::size_t j = 0; j < n[1]; ++j)
        for (std::size_t k = 0; k < n[2]; ++k) {
          const std::size_t idx[3] = {i, j, k};
          double want = 0;
          for (std::size_t r = 0; r <= idx[ax]; ++r)
            want += at3(a, ax == 0 ? r : i, ax == 1 ? r : j, ax == 2 ? r : k);
          CHECK(at3(c, i, j, k) == Approx(want).epsilon(1e-12));
        }
  }
}

TEST_CASE("cumsum: gradcheck", "[engine][reduce][gradcheck]") {
  auto a = random_tensor({2, 5, 3}, 6);
  require_gradcheck([](const Vec& in) { return cumsum(in[0], 1); }, {a});
  require_gradcheck([](const Vec& in) { return cumsum(in[0], -1); }, {a});
  require_gradcheck([](const Vec& in) { return cumsum(in[0], 0); }, {a});
}

TEST_CASE("reduce: float32 agrees with float64", "[engine][reduce]") {
  auto a = random_tensor({4, 6, 5}, 7);
  auto af = to_float(a);
  CHECK(max_mixed_error(sum(af, 1).value(), sum(a, 1).value()) < 1e-5);
  CHECK(max_mixed_error(mean(af, -1, true).value(), mean(a, -1, true).value()) < 1e-5);
  CHECK(max_mixed_error(cumsum(af, 1).value(), cumsum(a, 1).value()) < 1e-5);
  CHECK(max_mixed_error(sum(af).value(), sum(a).value()) < 1e-5);
  CHECK(max_mixed_error(mean(af).value(), mean(a).value()) < 1e-5);
}

TEST_CASE("reduce: errors name the op, axis and shape", "[engine][reduce][errors]") {
  auto a = Tensor<double>::zeros({2, 3});
  REQUIRE_THROWS_WITH(sum(a, 2), Catch::Contains("sum") && Catch::Contains("axis 2") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(mean(a, -3, true), Catch::Contains("mean") && Catch::Contains("axis -3"));
  REQUIRE_THROWS_WITH(cumsum(a, 5), Catch::Contains("cumsum") && Catch::Contains("axis 5"));
  REQUIRE_THROWS_WITH(sum(Tensor<double>::scalar(1.0), 0), Catch::Contains("sum") && Catch::Contains("[]"));
}
