#include <cmath>

#include "layers/attention/attention_fixtures.hpp"
#include "layers/attention/exact_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("exact attention: gradcheck, causal and not, with and without padding", "[layers][exact][gradcheck]") {
  auto q = random_tensor({2, 3, 6, 4}, 1), k = random_tensor({2, 3, 6, 4}, 2), v = random_tensor({2, 3, 6, 5}, 3);
  const Mask mask = tail_padding(2, 6, {2, 0});
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    require_gradcheck([&](const Vec& in) { return exact_attention(in[0], in[1], in[2], causal); }, {q, k, v});
    require_gradcheck([&](const Vec& in) { return exact_attention(in[0], in[1], in[2], causal, &mask); }, {q, k, v});
  }
}

TEST_CASE("exact attention: fused backward equals autodiff through primitives (several row blocks)",
          "[layers][exact][twin]") {
  const std::size_t L = kExactRowBlock * 2 + 37;
  auto q = random_tensor({2, L, 8}, 4).set_requires_grad();
  auto k = random_tensor({2, L, 8}, 5).set_requires_grad();
  auto v = random_tensor({2, L, 3}, 6).set_requires_grad();
  const Array<double> seed = random_tensor({2, L, 3}, 7).value();
  const Mask mask = tail_padding(2, L, {0, 50});
  auto run = [&](Tensor<double> out) {
    for (auto* t : {&q, &k, &v}) t->zero_grad();
    out.backward(seed);
    return std::vector<Array<double>>{out.value(), q.grad(), k.grad(), v.grad()};
  };
  for (bool causal : {false, true})
    for (const Mask* m : {(const Mask*)nullptr, &mask}) {
      const auto fused = run(exact_attention(q, k, v, causal, m));
      const auto naive = run(exact_attention_naive(q, k, v, causal, m));
      for (std::size_t i = 0; i < 4; ++i) {
        INFO("causal " << causal << " mask " << (m != nullptr) << " output/grad #" << i);
        CHECK(max_abs_diff(fused[i], naive[i]) < 1e-10);
      }
    }
}

TEST_CASE("exact attention: causal outputs ignore later tokens; fully masked rows are zero", "[layers][exact][causal]") {
  auto q = random_tensor({1, 9, 4}, 8), k = random_tensor({1, 9, 4}, 9), v = random_tensor({1, 9, 2}, 10);
  auto k2 = Tensor<double>(k.value()), v2 = Tensor<double>(v.value());
  for (std::size_t l = 5; l < 9; ++l) {
    for (std::size_t t = 0; t < 4; ++t) k2.value()(0, l, t) += 3;
    for (std::size_t t = 0; t < 2; ++t) v2.value()(0, l, t) -= 2;
  }
  const auto a = exact_attention(q, k, v, true).value(), b = exact_attention(q, k2, v2, true).value();
  for (std::size_t l = 0; l < 9; ++l)
    for (std::size_t t = 0; t < 2; ++t) {
      if (l < 5) CHECK(a(0, l, t) == b(0, l, t));
      else CHECK(a(0, l, t) != b(0, l, t));
    }
  // Causal with the first key padded: query 0 sees no key at all.
  Mask first = filled_array<std::uint8_t>({1, 9}, 0);
  first(0, 0) = 1;
  const auto c = exact_attention(q, k, v, true, &first).value();
  CHECK(c(0, 0, 0) == 0.0);
  CHECK(c(0, 0, 1) == 0.0);
  CHECK(std::isfinite(c(0, 1, 0)));
}

TEST_CASE("exact attention: float32 agrees with float64", "[layers][exact]") {
  auto q = random_tensor({2, 150, 8}, 11), k = random_tensor({2, 150, 8}, 12), v = random_tensor({2, 150, 5}, 13);
  for (bool causal : {false, true})
    CHECK(max_mixed_error(
              exact_attention(to_float(q), to_float(k), to_float(v), causal).value(),
              exact_attention(q, k, v, causal).value()) < 1e-5);
}

TEST_CASE("exact attention: shape errors name the op and shapes", "[layers][exact][errors]") {
  auto q = Tensor<double>::ones({2, 5, 4});
  REQUIRE_THROWS_WITH(exact_attention(q, Tensor<double>::ones({2, 6, 4}), Tensor<double>::ones({2, 5, 3}), false),
                      Catch::Contains("exact_attention") && Catch::Contains("[2,6,4]"));
  const Mask bad = filled_array<std::uint8_t>({2, 4}, 0);
  REQUIRE_THROWS_WITH(exact_attention(q, q, Tensor<double>::ones({2, 5, 3}), true, &bad), Catch::Contains("[2,4]"));
}
