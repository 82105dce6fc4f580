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

namespace {
Rng::State stepped(Rng::State state, int steps) {
  Rng r;
  r.set_state(state);
  for (int i = 0; i < steps; ++i) r.next_u64();
  return r.state();
}
}  // namespace

TEST_CASE("Rng: a step polynomial's single bit b is b steps, and its bits add by XOR", "[engine][random]") {
  const Rng::State start = Rng(77).state();
  for (int b : {0, 1, 5, 63, 64, 130, 255}) {
    std::array<std::uint64_t, 4> polynomial{};
    polynomial[b / 64] = std::uint64_t(1) << (b % 64);
    CHECK(detail::apply_step_polynomial(start, polynomial) == stepped(start, b));
  }
  Rng::State both = stepped(start, 3);
  const Rng::State seventy = stepped(start, 70);
  for (int i = 0; i < 4; ++i) both[i] ^= seventy[i];
  CHECK(detail::apply_step_polynomial(start, {std::uint64_t(1) << 3, std::uint64_t(1) << 6, 0, 0}) == both);
}

TEST_CASE("Rng: jump gives another stream and commutes with drawing", "[engine][random]") {
  Rng base(2024), jumped(2024);
  jumped.jump();
  CHECK(jumped.state() != base.state());
  int equal = 0;
  for (int i = 0; i < 64; ++i) equal += base.next_u64() == jumped.next_u64();
  CHECK(equal == 0);
  // Drawn 64 values then jumped == jumped then drawn 64 (both sides are polynomials in the step).
  Rng late;
  late.set_state(base.state());
  late.jump();
  CHECK(late.state() == jumped.state());
  Rng twice(2024), again(2024);
  twice.jump();
  twice.jump();
  again.jump();
  CHECK(twice.state() != again.state());
  CHECK(twice.state() != Rng(2024).state());
}
