#include <cmath>

#include "engine/core/random.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("Rng: same seed, same stream; state round-trips through text", "[engine][random]") {
  Rng a(123), b(123), c(124);
  for (int i = 0; i < 5; ++i) {
    const auto x = a.next_u64();
    CHECK(x == b.next_u64());
    CHECK(x != c.next_u64());
  }
  const std::string saved = rng_state_to_string(a.state());
  const double expected = a.normal();
  Rng restored(0);
  restored.set_state(rng_state_from_string(saved));
  CHECK(restored.normal() == expected);
  REQUIRE_THROWS_WITH(rng_state_from_string("1,2,3"), Catch::Contains("four") && Catch::Contains("1,2,3"));
  REQUIRE_THROWS_AS(rng_state_from_string("1,2,3,x"), std::invalid_argument);
  REQUIRE_THROWS_AS(rng_state_from_string("1,2,3,4,5"), std::invalid_argument);
}

TEST_CASE("Rng: normal and uniform moments, below() in range", "[engine][random]") {
  Rng rng(5);
  const int n = 200000;
  double sum = 0, sum_sq = 0, usum = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    sum += z;
    sum_sq += z * z;
    const double u = rng.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    usum += u;
  }
  // 5 standard errors: fails for a biased generator, not by chance.
  CHECK(std::abs(sum / n) < 5 / std::sqrt(double(n)));
  CHECK(std::abs(sum_sq / n - 1) < 5 * std::sqrt(2.0 / n));
  CHECK(std::abs(usum / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  for (int i = 0; i < 1000; ++i) REQUIRE(rng.below(7) < 7);
  REQUIRE_THROWS_AS(rng.below(0), std::invalid_argument);
}
