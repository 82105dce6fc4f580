#include <cmath>

#include "engine/core/memory.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/ops/shape_ops.hpp"
#include "layers/attention/attention_fixtures.hpp"
#include "layers/attention/exact_attention.hpp"
#include "layers/attention/linformer_attention.hpp"
#include "layers/attention/multihead_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

Tensor<double> identity(std::size_t n) {
  Array<double> a = filled_array<double>({n, n}, 0.0);
  for (std::size_t i = 0; i < n; ++i) a(i, i) = 1;
  return Tensor<double>(std::move(a));
}

// Peak tensor bytes of forward + backward of `attention` on q, k, v [1, 2, L, 16] (float).
template <class F>
std::size_t peak_bytes_of(std::size_t L, F attention) {
  Rng rng(3);
  auto q = randn<float>({1, 2, L, 16}, rng, 1.0f, true), k = randn<float>({1, 2, L, 16}, rng, 1.0f, true),
       v = randn<float>({1, 2, L, 16}, rng, 1.0f, true);
  reset_peak_memory();
  const std::size_t before = memory_stats().live_bytes;
  sum(attention(q, k, v)).backward();
  return memory_stats().peak_live_bytes - before;
}

}  // namespace

TEST_CASE("linformer attention: gradcheck of q, k, v, E and F, with and without padding, L < L_max",
          "[layers][linformer][gradcheck]") {
  auto q = random_tensor({2, 2, 6, 4}, 1), k = random_tensor({2, 2, 6, 4}, 2), v = random_tensor({2, 2, 6, 3}, 3);
  auto e = random_tensor({3, 8}, 4, 0.5), f = random_tensor({3, 8}, 5, 0.5);
  const Mask mask = tail_padding(2, 6, {2, 0});
  require_gradcheck([&](const Vec& in) { return linformer_attention(in[0], in[1], in[2], in[3], in[4]); },
                    {q, k, v, e, f});
  require_gradcheck([&](const Vec& in) { return linformer_attention(in[0], in[1], in[2], in[3], in[4], &mask); },
                    {q, k, v, e, f});
}

TEST_CASE("linformer attention: with k = L and E = F = I it is exact softmax attention", "[layers][linformer]") {
  const std::size_t L = 7;
  auto q = random_tensor({2, 3, L, 4}, 6, 1.5), k = random_tensor({2, 3, L, 4}, 7, 1.5), v = random_tensor({2, 3, L, 5}, 8);
  const auto lin = linformer_attention(q, k, v, identity(L), identity(L)).value();
  const auto exact = exact_attention(q, k, v, false).value();
  CHECK(max_abs_diff(lin, exact) < 1e-12);
  // and a random E is not (the comparison can fail)
  const auto other = linformer_attention(q, k, v, random_tensor({L, L}, 9), identity(L)).value();
  CHECK(max_abs_diff(other, exact) > 1e-3);
}

TEST_CASE("linformer attention: a padded tail gives the outputs of the shorter sequence", "[layers][linformer]") {
  // Zeroed padded rows leave the projections as if the sequence ended before them.
  const std::size_t L = 9, kept = 6;
  auto q = random_tensor({1, 2, L, 4}, 10), k = random_tensor({1, 2, L, 4}, 11), v = random_tensor({1, 2, L, 3}, 12);
  auto e = random_tensor({4, 12}, 13, 0.4), f = random_tensor({4, 12}, 14, 0.4);
  const Mask mask = tail_padding(1, L, {L - kept});
  const auto padded = linformer_attention(q, k, v, e, f, &mask).value();
  auto first = [&](const Tensor<double>& t) { return slice(t, 2, 0, kept); };
  const auto shorter = linformer_attention(first(q), first(k), first(v), e, f).value();
  for (std::size_t h = 0; h < 2; ++h)
    for (std::size_t l = 0; l < kept; ++l)
      for (std::size_t c = 0; c < 3; ++c) CHECK(std::abs(padded(0, h, l, c) - shorter(0, h, l, c)) < 1e-12);
  // without the mask the padded positions do enter
  const auto unmasked = linformer_attention(q, k, v, e, f).value();
  CHECK(std::abs(unmasked(0, 0, 0, 0) - shorter(0, 0, 0, 0)) > 1e-6);
}

TEST_CASE("linformer attention: memory grows linearly with L (exact naive attention: quadratically)",
          "[layers][linformer][memory]") {
  const std::size_t k = 16;
  Rng rng(4);
  const auto e = randn<float>({k, 2048}, rng, 0.02f), f = randn<float>({k, 2048}, rng, 0.02f);
  auto linformer = [&](const Tensor<float>& q, const Tensor<float>& kk, const Tensor<float>& v) {
    return linformer_attention(q, kk, v, e, f);
  };
  auto naive = [](const Tensor<float>& q, const Tensor<float>& kk, const Tensor<float>& v) {
    return exact_attention_naive(q, kk, v, false);
  };
  const double lin_ratio = double(peak_bytes_of(2048, linformer)) / double(peak_bytes_of(1024, linformer));
  const double naive_ratio = double(peak_bytes_of(2048, naive)) / double(peak_bytes_of(1024, naive));
  INFO("peak bytes ratio 2L / L: linformer " << lin_ratio << ", naive exact " << naive_ratio);
  CHECK(lin_ratio > 1.5);
  CHECK(lin_ratio < 2.3);
  CHECK(naive_ratio > 3.5);  // the measurement can tell the two apart
}

TEST_CASE("linformer attention: errors name the problem", "[layers][linformer]") {
  auto q = random_tensor({1, 9, 4}, 1), v = random_tensor({1, 9, 4}, 2);
  REQUIRE_THROWS_WITH(linformer_attention(q, q, v, random_tensor({3, 8}, 3), random_tensor({3, 8}, 4)),
                      Catch::Contains("sequence length 9 exceeds the max length 8"));
  REQUIRE_THROWS_WITH(linformer_attention(q, q, v, random_tensor({3, 9}, 3), random_tensor({4, 9}, 4)),
                      Catch::Contains("[k, L_max]"));
  Rng rng(1);
  REQUIRE_THROWS_WITH(LinformerAttention<double>(4, 16, true, rng), Catch::Contains("linformer") && Catch::Contains("causal"));
  REQUIRE_THROWS_WITH(LinformerAttention<double>(0, 16, false, rng), Catch::Contains("k = 0"));
}

TEST_CASE("linformer attention: the multi-head layer gradchecks, and refuses causal and RNN mode",
          "[layers][linformer][mha][gradcheck]") {
  MultiHeadAttentionConfig c;
  c.model_width = 8;
  c.heads = 2;
  c.kernel = AttentionKernel::linformer;
  c.max_length = 7;
  c.linformer_k = 3;
  Rng rng(2);
  MultiHeadAttention<double> mha(c, rng);
  const auto names = mha.named_parameters();
  CHECK(std::any_of(names.begin(), names.end(), [](const auto& p) { return p.first == "linformer.key_projection"; }));
  auto x = random_tensor({2, 5, 8}, 3, 1.5);
  const Mask mask = tail_padding(2, 5, {0, 2});
  Vec inputs{x};
  for (const auto& [name, p] : mha.named_parameters()) inputs.push_back(p);
  require_gradcheck([&](const Vec& in) { return mha.forward(in[0], &mask); }, inputs);
  REQUIRE_THROWS_WITH(mha.initial_state(1), Catch::Contains("linformer"));
  c.causal = true;
  REQUIRE_THROWS_WITH(MultiHeadAttention<double>(c, rng), Catch::Contains("linformer") && Catch::Contains("causal"));
}
