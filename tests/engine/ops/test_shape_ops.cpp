#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "engine/ops/shape_ops.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

// Exact equality of shape and every element (shape ops only move data).
template <class A, class B>
static void require_same(const A& got, const B& want) {
  REQUIRE(to_shape(got.shape()) == to_shape(want.shape()));
  std::size_t mismatches = 0;
  auto it = want.begin();
  for (auto g = got.begin(); g != got.end(); ++g, ++it) mismatches += (*g != *it);
  REQUIRE(mismatches == 0);
}

TEST_CASE("reshape keeps row-major order, gradcheck", "[engine][shape_ops][gradcheck]") {
  auto a = random_tensor({2, 3, 4}, 1);
  auto r = reshape(a, {6, 1, 4});
  REQUIRE(r.shape() == Shape{6, 1, 4});
  for (std::size_t i = 0; i < a.numel(); ++i) CHECK(r.data()[i] == a.data()[i]);
  require_gradcheck([](const Vec& in) { return reshape(in[0], {4, 6}); }, {a});
  require_gradcheck([](const Vec& in) { return reshape(in[0], {24}); }, {a});
  auto one = random_tensor({1, 1}, 2);
  require_gradcheck([](const Vec& in) { return reshape(in[0], {}); }, {one});
}

TEST_CASE("permute and transpose match xtensor's transpose", "[engine][shape_ops]") {
  auto a = random_tensor({2, 3, 4, 5}, 3);
  const std::vector<std::size_t> perm{2, 0, 3, 1};
  Array<double> want = xt::transpose(a.value(), perm);
  require_same(permute(a, perm).value(), want);
  Array<double> swap12 = xt::transpose(a.value(), std::vector<std::size_t>{0, 2, 1, 3});
  require_same(transpose(a, 1, 2).value(), swap12);
  require_same(transpose(a, -3, -2).value(), swap12);
  Array<double> swap_last = xt::transpose(a.value(), std::vector<std::size_t>{0, 1, 3, 2});
  require_same(transpose(a, -1, -2).value(), swap_last);
  // identity permutation and rank-1 transpose are copies
  require_same(permute(a, {0, 1, 2, 3}).value(), a.value());
  auto v = random_tensor({7}, 4);
  require_same(transpose(v, 0, -1).value(), v.value());
  // Large enough that rows of the kept last axis are split over the threads.
  ThreadsFor two(2);
  auto big = random_tensor({4, 64, 8, 32}, 8);
  Array<double> heads = xt::transpose(big.value(), std::vector<std::size_t>{0, 2, 1, 3});
  require_same(permute(big, {0, 2, 1, 3}).value(), heads);
  Array<double> rolled = xt::transpose(big.value(), std::vector<std::size_t>{2, 0, 1, 3});
  require_same(permute(big, {2, 0, 1, 3}).value(), rolled);
}

TEST_CASE("permute and transpose: gradcheck", "[engine][shape_ops][gradcheck]") {
  auto a = random_tensor({2, 3, 4, 5}, 5);
  require_gradcheck([](const Vec& in) { return permute(in[0], {2, 0, 3, 1}); }, {a});
  require_gradcheck([](const Vec& in) { return permute(in[0], {0, 2, 1, 3}); }, {a});  // heads split
  require_gradcheck([](const Vec& in) { return transpose(in[0], -1, -2); }, {a});
  require_gradcheck([](const Vec& in) { return transpose(in[0], 0, 3); }, {a});
  auto m = random_tensor({3, 5}, 6);
  require_gradcheck([](const Vec& in) { return transpose(in[0], 0, 1); }, {m});
}

TEST_CASE("permute_as equals reshape, permute, reshape; gradcheck; errors", "[engine][shape_ops][gradcheck]") {
  auto a = random_tensor({2, 6, 8}, 7);  // [B, L, D] split into 2 heads of 4 and back
  const auto split = permute_as(a, {2, 6, 2, 4}, {0, 2, 1, 3}, {2, 2, 6, 4});
  require_same(split.value(), permute(reshape(a, {2, 6, 2, 4}), {0, 2, 1, 3}).value());
  const auto merged = permute_as(split, split.shape(), {0, 2, 1, 3}, {2, 6, 8});
  require_same(merged.value(), a.value());
  require_gradcheck([](const Vec& in) { return permute_as(in[0], {2, 6, 2, 4}, {0, 2, 1, 3}, {2, 2, 6, 4}); }, {a});
  require_gradcheck([](const Vec& in) { return permute_as(in[0], {2, 6, 8}, {1, 0, 2}, {6, 16}); }, {a});
  CHECK_THROWS_WITH(permute_as(a, {2, 6, 3, 4}, {0, 2, 1, 3}, {2, 3, 6, 4}), Catch::Contains("[2,6,3,4]"));
  CHECK_THROWS_WITH(permute_as(a, {2, 6, 2, 4}, {0, 2, 1, 3}, {2, 6, 4}), Catch::Contains("cannot be viewed as [2,6,4]"));
  CHECK_THROWS_WITH(permute_as(a, {2, 6, 2, 4}, {0, 2, 1, 1}, {2, 2, 6, 4}), Catch::Contains("permute_as"));
}

TEST_CASE("permute of large axes (tiled walk) matches xtensor, forward and backward", "[engine][shape_ops]") {
  auto a = random_tensor({3, 70, 45}, 17);
  for (const std::vector<std::size_t>& perm :
       {std::vector<std::size_t>{0, 2, 1}, std::vector<std::size_t>{2, 1, 0}, std::vector<std::size_t>{2, 0, 1},
        std::vector<std::size_t>{1, 0, 2}}) {
    INFO("perm " << perm[0] << perm[1] << perm[2]);
    auto x = Tensor<double>(a.value(), true);
    auto y = permute(x, perm);
    Array<double> want = xt::transpose(a.value(), perm);
    require_same(y.value(), want);
    // backward of a permutation is the inverse permutation of the seed
    Array<double> seed = random_tensor(y.shape(), 18).value();
    y.backward(seed);
    std::vector<std::size_t> inverse(3);
    for (std::size_t i = 0; i < 3; ++i) inverse[perm[i]] = i;
    Array<double> want_grad = xt::transpose(seed, inverse);
    require_same(x.grad(), want_grad);
  }
}

TEST_CASE("slice matches an xtensor view on every axis", "[engine][shape_ops]") {
  auto a = random_tensor({3, 4, 5}, 7);
  Array<double> s0 = xt::view(a.value(), xt::range(1, 3), xt::all(), xt::all());
  Array<double> s1 = xt::view(a.value(), xt::all(), xt::range(0, 2), xt::all());
  Array<double> s2 = xt::view(a.value(), xt::all(), xt::all(), xt::range(2, 5));
  require_same(slice(a, 0, 1, 3).value(), s0);
  require_same(slice(a, 1, 0, 2).value(), s1);
  require_same(slice(a, -1, 2, 5).value(), s2);
  REQUIRE(slice(a, 1, 2, 2).shape() == Shape{3, 0, 5});
}

TEST_CASE("slice: gradcheck on different axes", "[engine][shape_ops][gradcheck]") {
  auto a = random_tensor({3, 4, 5}, 8);
  require_gradcheck([](const Vec& in) { return slice(in[0], 0, 1, 3); }, {a});
  require_gradcheck([](const Vec& in) { return slice(in[0], 1, 1, 4); }, {a});
  require_gradcheck([](const Vec& in) { return slice(in[0], -1, 0, 2); }, {a});
  // two overlapping slices of one input: gradients add up
  require_gradcheck(
      [](const Vec& in) { return concat<double>({slice(in[0], 2, 0, 3), slice(in[0], 2, 1, 4)}, 1); }, {a});
}

TEST_CASE("concat joins along an axis and split undoes it", "[engine][shape_ops]") {
  auto a = random_tensor({2, 3, 4}, 9);
  auto b = random_tensor({2, 1, 4}, 10);
  auto c = random_tensor({2, 5, 4}, 11);
  auto joined = concat<double>({a, b, c}, 1);
  REQUIRE(joined.shape() == Shape{2, 9, 4});
  // element-wise spot check against the definition
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t k = 0; k < 4; ++k) {
      CHECK(joined.value()(i, 2, k) == a.value()(i, 2, k));
      CHECK(joined.value()(i, 3, k) == b.value()(i, 0, k));
      CHECK(joined.value()(i, 8, k) == c.value()(i, 4, k));
    }
  auto pieces = split(joined, -2, {3, 1, 5});
  REQUIRE(pieces.size() == 3);
  require_same(pieces[0].value(), a.value());
  require_same(pieces[1].value(), b.value());
  require_same(pieces[2].value(), c.value());
  // along the last axis, including an empty piece
  auto last = concat<double>({a, random_tensor({2, 3, 0}, 12), a}, -1);
  REQUIRE(last.shape() == Shape{2, 3, 8});
  auto halves = split(last, 2, {4, 0, 4});
  REQUIRE(halves[1].shape() == Shape{2, 3, 0});
  require_same(halves[2].value(), a.value());
}

TEST_CASE("concat and split: gradcheck", "[engine][shape_ops][gradcheck]") {
  auto a = random_tensor({2, 3, 4}, 13);
  auto b = random_tensor({2, 2, 4}, 14);
  auto c = random_tensor({2, 3, 1}, 15);
  require_gradcheck([](const Vec& in) { return concat(in, 1); }, {a, b});
  require_gradcheck([](const Vec& in) { return concat(in, -1); }, {a, c});
  require_gradcheck([](const Vec& in) { return concat(in, 0); }, {a, a.detach()});
  require_gradcheck(
      [](const Vec& in) {
        auto p = split(in[0], -1, {1, 2, 1});
        return concat<double>({p[2], p[0], p[1]}, -1);  // a reordering, so each piece is checked
      },
      {a});
  require_gradcheck(
      [](const Vec& in) {
        auto p = split(in[0], 0, {1, 1});
        return concat<double>({p[1], p[1], p[0]}, 0);  // a piece used twice accumulates
      },
      {a});
}

TEST_CASE("shape ops: float32 agrees with float64", "[engine][shape_ops]") {
  auto a = random_tensor({2, 3, 4}, 16);
  auto af = to_float(a);
  auto f64 = concat<double>({transpose(slice(a, 1, 1, 3), 0, -1), reshape(permute(a, {2, 1, 0}), {4, 3, 2})}, 1);
  auto f32 = concat<float>({transpose(slice(af, 1, 1, 3), 0, -1), reshape(permute(af, {2, 1, 0}), {4, 3, 2})}, 1);
  CHECK(max_mixed_error(f32.value(), f64.value()) < 1e-7);
}

TEST_CASE("shape ops: errors name the op and the values", "[engine][shape_ops][errors]") {
  auto a = Tensor<double>::zeros({2, 3, 4});
  REQUIRE_THROWS_WITH(reshape(a, {5, 5}),
                      Catch::Contains("reshape") && Catch::Contains("[2,3,4]") && Catch::Contains("[5,5]"));
  REQUIRE_THROWS_WITH(permute(a, {0, 0, 1}),
                      Catch::Contains("permute") && Catch::Contains("(0,0,1)") && Catch::Contains("[2,3,4]"));
  REQUIRE_THROWS_WITH(permute(a, {1, 0}), Catch::Contains("permute") && Catch::Contains("(1,0)"));
  REQUIRE_THROWS_WITH(transpose(a, 0, 3),
                      Catch::Contains("transpose") && Catch::Contains("axis 3") && Catch::Contains("[2,3,4]"));
  REQUIRE_THROWS_WITH(transpose(a, -4, 0), Catch::Contains("transpose") && Catch::Contains("axis -4"));
  REQUIRE_THROWS_WITH(slice(a, 1, 2, 4), Catch::Contains("slice") && Catch::Contains("[2, 4)") &&
                                             Catch::Contains("size 3"));
  REQUIRE_THROWS_WITH(slice(a, 1, 2, 1), Catch::Contains("slice") && Catch::Contains("[2, 1)"));
  REQUIRE_THROWS_WITH(slice(a, 5, 0, 1), Catch::Contains("slice") && Catch::Contains("axis 5"));
  REQUIRE_THROWS_WITH(concat<double>({a, Tensor<double>::zeros({2, 4, 4})}, 2),
                      Catch::Contains("concat") && Catch::Contains("[2,4,4]") && Catch::Contains("[2,3,4]"));
  REQUIRE_THROWS_WITH(concat<double>({a, Tensor<double>::zeros({2, 3})}, 0),
                      Catch::Contains("concat") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(concat<double>({}, 0), Catch::Contains("concat"));
  REQUIRE_THROWS_WITH(split(a, 2, {1, 2}), Catch::Contains("split") && Catch::Contains("add up to 3") &&
                                               Catch::Contains("size 4"));
  REQUIRE_THROWS_WITH(split(a, -4, {2}), Catch::Contains("split") && Catch::Contains("axis -4"));
}
