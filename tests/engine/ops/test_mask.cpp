#include <cmath>

#include "engine/ops/mask.hpp"
#include "engine/ops/softmax.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("causal_mask marks the future", "[engine][mask]") {
  const Mask m = causal_mask(4);
  REQUIRE(to_shape(m.shape()) == Shape{4, 4});
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) CHECK(m(i, j) == (j > i ? 1 : 0));
  CHECK(causal_mask(0).size() == 0);
}

TEST_CASE("masked_fill with a same-shape and with broadcast masks", "[engine][mask]") {
  auto x = random_tensor({2, 3, 4, 4}, 1);  // [B, H, L, L] scores
  const Mask causal = causal_mask(4);
  auto y = masked_fill(x, causal, -1e9);
  REQUIRE(y.shape() == x.shape());
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t h = 0; h < 3; ++h)
      for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j)
          CHECK(y.value()(b, h, i, j) == (j > i ? -1e9 : x.value()(b, h, i, j)));
  // a key-padding mask [B, 1, 1, L]
  Mask pad = filled_array<std::uint8_t>({2, 1, 1, 4}, 0);
  pad(1, 0, 0, 3) = 1;
  auto z = masked_fill(x, pad, 0.0);
  CHECK(z.value()(1, 2, 1, 3) == 0.0);
  CHECK(z.value()(0, 2, 1, 3) == x.value()(0, 2, 1, 3));
  // same shape
  Mask full = filled_array<std::uint8_t>(x.shape(), 0);
  full(0, 1, 2, 3) = 7;  // any nonzero counts
  auto w = masked_fill(x, full, 5.0);
  CHECK(w.value()(0, 1, 2, 3) == 5.0);
  CHECK(w.value()(0, 1, 2, 2) == x.value()(0, 1, 2, 2));
  // a causally masked softmax puts no weight on the future
  auto attn = softmax(y);
  CHECK(attn.value()(1, 2, 0, 0) == Approx(1.0));
  CHECK(attn.value()(1, 2, 1, 3) == 0.0);
}

TEST_CASE("masked_fill: gradcheck, zero gradient where masked", "[engine][mask][gradcheck]") {
  auto x = random_tensor({2, 3, 3}, 2);
  const Mask causal = causal_mask(3);
  require_gradcheck([&](const Vec& in) { return masked_fill(in[0], causal, -7.0); }, {x});
  Mask col = filled_array<std::uint8_t>({3, 1}, 0);
  col(1, 0) = 1;
  require_gradcheck([&](const Vec& in) { return masked_fill(in[0], col, 2.0); }, {x});
  auto t = Tensor<double>(x.value(), true);
  masked_fill(t, causal, 0.0).backward();
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 3; ++j) CHECK(t.grad()(b, i, j) == (j > i ? 0.0 : 1.0));
}

TEST_CASE("masked_fill: float32 agrees with float64", "[engine][mask]") {
  auto x = random_tensor({2, 5, 5}, 3);
  const Mask causal = causal_mask(5);
  CHECK(max_mixed_error(masked_fill(to_float(x), causal, -3.0f).value(),
                        masked_fill(x, causal, -3.0).value()) < 1e-7);
}

TEST_CASE("masked_fill: a mask that does not broadcast names both shapes", "[engine][mask][errors]") {
  auto x = Tensor<double>::zeros({2, 4});
  REQUIRE_THROWS_WITH(masked_fill(x, causal_mask(3), 0.0),
                      Catch::Contains("masked_fill") && Catch::Contains("[3,3]") && Catch::Contains("[2,4]"));
  // the mask may not grow x
  REQUIRE_THROWS_WITH(masked_fill(x, filled_array<std::uint8_t>({3, 2, 4}, 0), 0.0),
                      Catch::Contains("[3,2,4]"));
  REQUIRE_THROWS_AS(masked_fill(x, filled_array<std::uint8_t>({4, 4}, 0), 0.0), std::invalid_argument);
}
