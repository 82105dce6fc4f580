#include "engine/ops/matmul.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

// Reference product with explicit loops.
static Array<double> naive_matmul(const Array<double>& a, const Array<double>& b) {
  const std::size_t n = a.shape()[0], k = a.shape()[1], p = b.shape()[1];
  Array<double> c = filled_array<double>({n, p}, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < p; ++j)
      for (std::size_t t = 0; t < k; ++t) c(i, j) += a(i, t) * b(t, j);
  return c;
}

TEST_CASE("matmul 2-D matches a naive product", "[engine][matmul]") {
  auto a = random_tensor({3, 5}, 1);
  auto b = random_tensor({5, 4}, 2);
  auto c = matmul(a, b);
  auto ref = naive_matmul(a.value(), b.value());
  for (std::size_t i = 0; i < ref.size(); ++i) CHECK(c.data()[i] == Approx(ref.data()[i]));
}

TEST_CASE("matmul: gradcheck for every transpose combination", "[engine][matmul][gradcheck]") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      auto a = random_tensor(ta ? Shape{5, 3} : Shape{3, 5}, 3);
      auto b = random_tensor(tb ? Shape{4, 5} : Shape{5, 4}, 4);
      INFO("trans_a=" << ta << " trans_b=" << tb);
      require_gradcheck([=](const Vec& in) { return matmul(in[0], in[1], ta, tb); }, {a, b});
    }
}

TEST_CASE("matmul: batched and shared operands, gradcheck", "[engine][matmul][gradcheck]") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("trans_a=" << ta << " trans_b=" << tb);
      auto a3 = random_tensor(ta ? Shape{2, 3, 5, 3} : Shape{2, 3, 3, 5}, 5);
      auto b3 = random_tensor(tb ? Shape{2, 3, 4, 5} : Shape{2, 3, 5, 4}, 6);
      auto b2 = random_tensor(tb ? Shape{4, 5} : Shape{5, 4}, 7);
      auto a2 = random_tensor(ta ? Shape{5, 3} : Shape{3, 5}, 8);
      require_gradcheck([=](const Vec& in) { return matmul(in[0], in[1], ta, tb); }, {a3, b3});
      require_gradcheck([=](const Vec& in) { return matmul(in[0], in[1], ta, tb); }, {a3, b2});
      require_gradcheck([=](const Vec& in) { return matmul(in[0], in[1], ta, tb); }, {a2, b3});
    }
}

TEST_CASE("matmul: batched slices equal per-slice products", "[engine][matmul]") {
  auto a = random_tensor({4, 3, 5}, 9);
  auto w = random_tensor({5, 2}, 10);
  auto c = matmul(a, w);
  REQUIRE(c.shape() == Shape{4, 3, 2});
  for (std::size_t s = 0; s < 4; ++s) {
    Array<double> slice = empty_array<double>({3, 5});
    std::copy(a.data() + s * 15, a.data() + (s + 1) * 15, slice.data());
    auto ref = naive_matmul(slice, w.value());
    for (std::size_t i = 0; i < 6; ++i) CHECK(c.data()[s * 6 + i] == Approx(ref.data()[i]));
  }
}

TEST_CASE("matmul: float32 agrees with float64", "[engine][matmul]") {
  auto a = random_tensor({2, 7, 9}, 11);
  auto b = random_tensor({9, 6}, 12);
  auto c64 = matmul(a, b, false, false);
  auto c32 = matmul(to_float(a), to_float(b));
  CHECK(max_mixed_error(c32.value(), c64.value()) < 1e-5);
}

TEST_CASE("matmul: shape errors name the op and shapes", "[engine][matmul][errors]") {
  auto a = Tensor<double>::zeros({2, 3});
  auto b = Tensor<double>::zeros({4, 5});
  REQUIRE_THROWS_WITH(matmul(a, b), Catch::Contains("matmul") && Catch::Contains("[2,3]") &&
                                        Catch::Contains("[4,5]") && Catch::Contains("inner dim"));
  REQUIRE_THROWS_WITH(matmul(Tensor<double>::zeros({2, 2, 3}), Tensor<double>::zeros({3, 3, 4})),
                      Catch::Contains("batch"));
  REQUIRE_THROWS_AS(matmul(Tensor<double>::zeros({3}), b), std::invalid_argument);
}
