#include <cmath>

#include "engine/optim/schedule.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("ConstantLr is constant", "[engine][schedule]") {
  ConstantLr s(3e-4);
  CHECK(s.lr_at(0) == 3e-4);
  CHECK(s.lr_at(123456) == 3e-4);
  CHECK_THROWS_AS(ConstantLr(-1), std::invalid_argument);
}

TEST_CASE("WarmupCosineLr at key steps", "[engine][schedule]") {
  WarmupCosineLr s(1.0, 10, 110, 0.1);
  CHECK(s.lr_at(0) == Approx(0.1));   // 1/10 of max on the first step
  CHECK(s.lr_at(4) == Approx(0.5));
  CHECK(s.lr_at(9) == Approx(1.0));   // warmup ends at max
  CHECK(s.lr_at(10) == Approx(1.0));  // cosine starts at max
  CHECK(s.lr_at(60) == Approx(0.55)); // halfway: (max + min) / 2
  CHECK(s.lr_at(35) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.25))));
  CHECK(s.lr_at(110) == Approx(0.1));
  CHECK(s.lr_at(5000) == Approx(0.1));
  // Decreasing after warmup.
  for (int t = 10; t < 110; ++t) CHECK(s.lr_at(t + 1) <= s.lr_at(t));
  // No warmup: starts at max.
  WarmupCosineLr no_warmup(2.0, 0, 4);
  CHECK(no_warmup.lr_at(0) == Approx(2.0));
  CHECK(no_warmup.lr_at(2) == Approx(1.0));
  CHECK(no_warmup.lr_at(4) == Approx(0.0).margin(1e-15));
}

TEST_CASE("WarmupCosineLr argument errors", "[engine][schedule][errors]") {
  CHECK_THROWS_WITH(WarmupCosineLr(1.0, 20, 10), Catch::Contains("warmup (20)"));
  CHECK_THROWS_AS(WarmupCosineLr(1.0, 0, 10, 2.0), std::invalid_argument);
  CHECK_THROWS_AS(WarmupCosineLr(1.0, 0, 10).lr_at(-1), std::invalid_argument);
}
