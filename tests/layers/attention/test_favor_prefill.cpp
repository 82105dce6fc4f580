// favor_causal_prefill (favor_causal_chunked.cpp) against per-token favor_causal_step: a prompt in
// one pass must leave the same RNN state, and give the same outputs, as feeding it token by token.
#include <cmath>

#include "layers/attention/favor_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// Tokens [t0, t0 + n) of x [N, L, w] as [N, n, w].
Tensor<double> token_range(const Tensor<double>& x, std::size_t t0, std::size_t n) {
  const std::size_t N = x.size(0), L = x.size(1), w = x.size(2);
  Array<double> out = empty_array<double>({N, n, w});
  for (std::size_t s = 0; s < N; ++s) std::copy_n(x.data() + (s * L + t0) * w, n * w, out.data() + s * n * w);
  return Tensor<double>(std::move(out));
}

// Feature-like inputs: positive, as a positive feature map gives (so denominators stay away from 0).
Tensor<double> positive_tensor(const Shape& shape, std::uint64_t seed) {
  Tensor<double> t = random_tensor(shape, seed, 1.0);
  for (double& x : t.value()) x = std::exp(0.5 * x);
  return t;
}

double max_abs_diff(const double* a, const double* b, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

}  // namespace

TEST_CASE("favor prefill: state and outputs equal per-token steps", "[layers][favor][prefill]") {
  const std::size_t N = 6, L = 45, M = 12, dv = 5;
  const auto q = positive_tensor({N, L, M}, 41), k = positive_tensor({N, L, M}, 42);
  const auto v = random_tensor({N, L, dv}, 43);
  // Reference: every token through the RNN step; outputs [N, L, dv], the state after each token.
  FavorCausalState<double> stepped(N, M, dv);
  Array<double> step_out = empty_array<double>({N, L, dv});
  std::vector<Array<double>> states;
  for (std::size_t t = 0; t < L; ++t) {
    const auto out = favor_causal_step(token_range(q, t, 1), token_range(k, t, 1), token_range(v, t, 1), stepped);
    for (std::size_t s = 0; s < N; ++s) std::copy_n(out.data() + s * dv, dv, step_out.data() + (s * L + t) * dv);
    states.push_back(stepped.s1);
  }
  for (std::size_t chunk : {1, 4, 7, 32, 64}) {
    INFO("chunk " << chunk);
    // The prompt in three parts (13 + 1 + 31 tokens): a prefill from the empty state, a prefill of
    // one token, and a prefill that continues a non-empty state.
    FavorCausalState<double> state(N, M, dv);
    std::size_t t0 = 0;
    for (std::size_t n : {13, 1, 31}) {
      const auto out = favor_causal_prefill(token_range(q, t0, n), token_range(k, t0, n), token_range(v, t0, n),
                                            state, chunk);
      REQUIRE(out.shape() == Shape{N, n, dv});
      t0 += n;
      CHECK(state.steps == t0);
      CHECK(max_abs_diff(state.s1.data(), states[t0 - 1].data(), state.s1.size()) < 1e-10);
      const auto want = token_range(Tensor<double>(step_out), t0 - n, n);
      CHECK(max_abs_diff(out.data(), want.data(), out.numel()) < 1e-10);
    }
  }
}

TEST_CASE("favor prefill: a state of another shape is refused, naming both", "[layers][favor][prefill][errors]") {
  FavorCausalState<double> state(4, 3, 2);
  const auto q = Tensor<double>::ones({4, 5, 3}), v = Tensor<double>::ones({4, 5, 2});
  CHECK_NOTHROW(favor_causal_prefill(q, q, v, state));
  FavorCausalState<double> wrong(2, 3, 2);
  REQUIRE_THROWS_WITH(favor_causal_prefill(q, q, v, wrong),
                      Catch::Contains("favor_causal_prefill") && Catch::Contains("4 slices") &&
                          Catch::Contains("state of 2 slices"));
  REQUIRE_THROWS_WITH(favor_causal_prefill(q, q, v, state, 0), Catch::Contains("chunk"));
}
