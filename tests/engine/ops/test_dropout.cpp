#include <cmath>

#include "engine/ops/dropout.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("dropout: the same seed gives the same mask, another seed another", "[engine][dropout]") {
  auto x = random_tensor({8, 50}, 1);
  Rng r1(7), r2(7), r3(8);
  auto a = dropout(x, 0.4, r1, true), b = dropout(x, 0.4, r2, true), c = dropout(x, 0.4, r3, true);
  std::size_t same_ab = 0, same_ac = 0;
  for (std::size_t i = 0; i < x.numel(); ++i) {
    same_ab += a.data()[i] == b.data()[i];
    same_ac += a.data()[i] == c.data()[i];
  }
  CHECK(same_ab == x.numel());
  CHECK(same_ac < x.numel());
  // the stream advances: a second draw from the same Rng is a new mask
  auto a2 = dropout(x, 0.4, r1, true);
  std::size_t same_again = 0;
  for (std::size_t i = 0; i < x.numel(); ++i) same_again += a.data()[i] == a2.data()[i];
  CHECK(same_again < x.numel());
}

TEST_CASE("dropout keeps the mean and drops a fraction p", "[engine][dropout][statistics]") {
  const std::size_t n = 200000;
  auto x = Tensor<double>::ones({n});
  Rng rng(123);
  for (double p : {0.1, 0.5, 0.9}) {
    INFO("p " << p);
    auto y = dropout(x, p, rng, true);
    double total = 0;
    std::size_t zeros = 0;
    for (double v : y.value()) {
      total += v;
      zeros += v == 0.0;
      if (v != 0.0) CHECK(v == Approx(1 / (1 - p)));
    }
    // standard error of the mean is sqrt(p / (1 - p) / n) <= 0.007; allow 5 of them
    CHECK(total / double(n) == Approx(1.0).margin(5 * std::sqrt(p / (1 - p) / double(n))));
    CHECK(double(zeros) / double(n) == Approx(p).margin(5 * std::sqrt(p * (1 - p) / double(n))));
  }
}

TEST_CASE("dropout is the identity in eval mode and for p = 0", "[engine][dropout]") {
  auto x = random_tensor({3, 4}, 2);
  Rng rng(1);
  const auto before = rng.state();
  CHECK(dropout(x, 0.5, rng, false).same_node(x));
  CHECK(dropout(x, 0.0, rng, true).same_node(x));
  CHECK(rng.state() == before);  // no random numbers consumed
}

TEST_CASE("dropout: gradcheck with a fixed mask", "[engine][dropout][gradcheck]") {
  auto x = random_tensor({4, 6}, 3);
  require_gradcheck(
      [](const Vec& in) {
        Rng rng(42);  // same mask on every call
        return dropout(in[0], 0.3, rng, true);
      },
      {x});
}

TEST_CASE("dropout: float32 agrees with float64 (same seed, same mask)", "[engine][dropout]") {
  auto x = random_tensor({5, 9}, 4);
  Rng r64(5), r32(5);
  auto y64 = dropout(x, 0.25, r64, true);
  auto y32 = dropout(to_float(x), 0.25, r32, true);
  CHECK(max_mixed_error(y32.value(), y64.value()) < 1e-6);
}

TEST_CASE("dropout: p outside 0 <= p < 1 is rejected with its value", "[engine][dropout][errors]") {
  auto x = random_tensor({2}, 5);
  Rng rng(1);
  REQUIRE_THROWS_WITH(dropout(x, 1.0, rng, true), Catch::Contains("dropout") && Catch::Contains("got 1"));
  REQUIRE_THROWS_WITH(dropout(x, -0.1, rng, true), Catch::Contains("dropout") && Catch::Contains("-0.1"));
  REQUIRE_THROWS_WITH(dropout(x, 1.5, rng, false), Catch::Contains("1.5"));  // validated in eval too
  REQUIRE_THROWS_AS(dropout(x, std::nan(""), rng, true), std::invalid_argument);
}
