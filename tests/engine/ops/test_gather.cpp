#include "engine/ops/gather.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("gather_rows picks rows per slice; take_along_last_axis one element per row", "[engine][gather]") {
  auto x = random_tensor({2, 4, 3}, 1);
  const auto index = make_indices({2, 3}, {3, 0, 3, 1, 1, 2});
  const auto out = gather_rows(x, index);
  REQUIRE(out.shape() == Shape{2, 3, 3});
  for (std::size_t s = 0; s < 2; ++s)
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t c = 0; c < 3; ++c)
        CHECK(out.value()(s, i, c) == x.value()(s, std::size_t(index(s, i)), c));
  const auto two_d = gather_rows(random_tensor({5, 2}, 2), make_indices({2}, {4, 4}));
  CHECK(two_d.shape() == Shape{2, 2});
  const auto picks = make_indices({2, 4}, {0, 2, 2, 1, 1, 0, 2, 2});
  const auto picked = take_along_last_axis(x, picks);
  REQUIRE(picked.shape() == Shape{2, 4});
  for (std::size_t s = 0; s < 2; ++s)
    for (std::size_t i = 0; i < 4; ++i) CHECK(picked.value()(s, i) == x.value()(s, i, std::size_t(picks(s, i))));
}

TEST_CASE("gather_rows and take_along_last_axis: gradcheck, repeated indices scatter-add", "[engine][gather][gradcheck]") {
  auto x = random_tensor({2, 5, 3}, 3);
  const auto index = make_indices({2, 4}, {1, 1, 4, 1, 0, 0, 2, 3});  // slice 0: row 1 three times, 2 and 3 never
  require_gradcheck([&](const Vec& in) { return gather_rows(in[0], index); }, {x});
  auto t = Tensor<double>(x.value(), true);
  gather_rows(t, index).backward();
  CHECK(t.grad()(0, 1, 2) == 3.0);
  CHECK(t.grad()(0, 2, 0) == 0.0);
  CHECK(t.grad()(1, 0, 1) == 2.0);
  const auto picks = make_indices({2, 5}, {0, 2, 2, 1, 0, 1, 1, 0, 2, 2});
  require_gradcheck([&](const Vec& in) { return take_along_last_axis(in[0], picks); }, {x});
}

TEST_CASE("gather_rows and take_along_last_axis: bad shapes and indices name them", "[engine][gather][errors]") {
  auto x = Tensor<double>::zeros({2, 4, 3});
  REQUIRE_THROWS_WITH(gather_rows(x, make_indices({2, 2}, {0, 1, 4, 0})),
                      Catch::Contains("gather_rows") && Catch::Contains("index 4") && Catch::Contains("L = 4"));
  REQUIRE_THROWS_WITH(gather_rows(x, make_indices({3, 1}, {0, 1, 2})),
                      Catch::Contains("gather_rows") && Catch::Contains("[2,4,3]") && Catch::Contains("[3,1]"));
  REQUIRE_THROWS_WITH(take_along_last_axis(x, make_indices({2, 4}, {0, 1, 2, 2, 0, 0, -1, 0})),
                      Catch::Contains("take_along_last_axis") && Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(take_along_last_axis(x, make_indices({2}, {0, 1})), Catch::Contains("[2,4,3]"));
}
