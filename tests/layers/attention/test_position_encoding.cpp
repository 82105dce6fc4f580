#include <cmath>

#include "layers/attention/position_encoding.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("rotary: gradcheck, and q.k depends only on the position difference", "[layers][position][gradcheck]") {
  auto x = random_tensor({2, 3, 5, 6}, 1);
  require_gradcheck([](const Vec& in) { return apply_rotary(in[0], 3); }, {x});
  // The same q and k vectors placed at positions (i, j) and (i + s, j + s) give the same dot.
  auto q = random_tensor({1, 6}, 2), k = random_tensor({1, 6}, 3);
  auto dot_at = [&](std::size_t i, std::size_t j) {
    const auto a = apply_rotary(q, i).value(), b = apply_rotary(k, j).value();
    double s = 0;
    for (std::size_t t = 0; t < 6; ++t) s += a(0, t) * b(0, t);
    return s;
  };
  CHECK(dot_at(2, 5) == Approx(dot_at(9, 12)).epsilon(1e-12));
  CHECK(std::abs(dot_at(2, 5) - dot_at(2, 6)) > 1e-6);
  // Rotations keep norms; offset o on row 0 equals row o without offset.
  Array<double> rows = empty_array<double>({4, 6});
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t t = 0; t < 6; ++t) rows(r, t) = q.value()(0, t);
  auto seq = Tensor<double>(rows);
  const auto rotated = apply_rotary(seq).value(), shifted = apply_rotary(q, 3).value();
  for (std::size_t t = 0; t < 6; ++t) CHECK(rotated(3, t) == Approx(shifted(0, t)).epsilon(1e-12));
  REQUIRE_THROWS_WITH(apply_rotary(random_tensor({2, 5}, 4)), Catch::Contains("apply_rotary") && Catch::Contains("[2,5]"));
}

TEST_CASE("sinusoidal encoding: values, and added to x with gradient passing through", "[layers][position]") {
  const auto e = sinusoidal_encoding<double>(7, 6, 2);
  CHECK(e(0, 0) == Approx(std::sin(2.0)));
  CHECK(e(0, 1) == Approx(std::cos(2.0)));
  CHECK(e(3, 2) == Approx(std::sin(5.0 / std::pow(10000.0, 2.0 / 6))));
  CHECK(e(3, 5) == Approx(std::cos(5.0 / std::pow(10000.0, 4.0 / 6))));
  auto x = random_tensor({2, 7, 6}, 5);
  require_gradcheck([](const Vec& in) { return add_sinusoidal_encoding(in[0], 2); }, {x});
}

TEST_CASE("learned position embedding: gradcheck, offset, errors", "[layers][position][gradcheck]") {
  Rng rng(6);
  LearnedPositionEmbedding<double> pos(10, 4, rng);
  auto x = random_tensor({2, 3, 4}, 7);
  auto table = pos.parameters().at(0);
  require_gradcheck([&](const Vec& in) { return pos.forward(in[0], 5); }, {x, table});
  const auto y = pos.forward(Tensor<double>::zeros({1, 3, 4}), 5).value();
  CHECK(y(0, 1, 2) == table.value()(6, 2));
  REQUIRE_THROWS_WITH(pos.forward(x, 8), Catch::Contains("LearnedPositionEmbedding") && Catch::Contains("[2,3,4]"));
}
