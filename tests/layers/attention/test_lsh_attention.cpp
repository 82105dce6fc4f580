#include <cmath>
#include <vector>

#include "layers/attention/attention_fixtures.hpp"
#include "layers/attention/lsh_attention.hpp"
#include "layers/attention/multihead_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

LshOptions options(std::size_t buckets, std::size_t rounds, std::size_t chunk) {
  LshOptions o;
  o.buckets = buckets;
  o.rounds = rounds;
  o.chunk = chunk;
  return o;
}

Tensor<double> rotations_for(const LshOptions& o, std::size_t d, std::uint64_t seed) {
  return random_tensor({o.rounds, d, o.buckets / 2}, seed);
}

// Exact shared-QK attention with the self-mask, by loops: keys k_j = q_j / |q_j|, scores
// q_i . k_j / sqrt(d) over the keys j != i that are not padded (and not later, when causal);
// a query with no such key attends to itself, or gets 0 if it is padded too. qk, v [S, L, *].
Array<double> shared_qk_oracle(const Tensor<double>& qk, const Tensor<double>& v, bool causal, const Mask* pad) {
  const std::size_t S = qk.size(0), L = qk.size(1), d = qk.size(2), dv = v.size(2);
  Array<double> out = filled_array<double>({S, L, dv}, 0.0);
  for (std::size_t s = 0; s < S; ++s)
    for (std::size_t i = 0; i < L; ++i) {
      auto padded = [&](std::size_t j) { return pad && (*pad)(s, j); };
      std::vector<std::size_t> keys;
      for (std::size_t j = 0; j < L; ++j)
        if (j != i && !padded(j) && !(causal && j > i)) keys.push_back(j);
      if (keys.empty() && !padded(i)) keys.push_back(i);
      if (keys.empty()) continue;
      std::vector<double> w;
      double mx = -1e300;
      for (std::size_t j : keys) {
        double dot = 0, norm = 0;
        for (std::size_t t = 0; t < d; ++t) dot += qk.value()(s, i, t) * qk.value()(s, j, t), norm += std::pow(qk.value()(s, j, t), 2);
        w.push_back(dot / std::sqrt(norm) / std::sqrt(double(d)));
        mx = std::max(mx, w.back());
      }
      double total = 0;
      for (double& x : w) total += (x = std::exp(x - mx));
      for (std::size_t n = 0; n < keys.size(); ++n)
        for (std::size_t t = 0; t < dv; ++t) out(s, i, t) += w[n] / total * v.value()(s, keys[n], t);
    }
  return out;
}

}  // namespace

TEST_CASE("lsh attention: gradcheck with several buckets, rounds and chunks, causal or not, with padding",
          "[layers][lsh][gradcheck]") {
  auto qk = random_tensor({2, 2, 10, 4}, 1), v = random_tensor({2, 2, 10, 3}, 2);
  const LshOptions o = options(4, 2, 3);
  const auto rotations = rotations_for(o, 4, 3);
  const Mask mask = tail_padding(2, 10, {3, 0});
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    require_gradcheck([&](const Vec& in) { return lsh_attention(in[0], in[1], rotations, o, causal, &mask); }, {qk, v});
    require_gradcheck([&](const Vec& in) { return lsh_attention(in[0], in[1], rotations, o, causal); }, {qk, v});
  }
}

TEST_CASE("lsh attention: one bucket and a chunk >= L is exact shared-QK attention with the self-mask",
          "[layers][lsh]") {
  const std::size_t L = 9;
  auto qk = random_tensor({3, L, 4}, 4, 1.5), v = random_tensor({3, L, 5}, 5);
  Mask mask = tail_padding(3, L, {0, 3, L});  // the last sequence is all padding: zero outputs
  mask(0, 0) = 1;
  for (std::size_t rounds : {1, 2})
    for (bool causal : {false, true})
      for (const Mask* m : {(const Mask*)nullptr, (const Mask*)&mask}) {
        INFO("rounds " << rounds << " causal " << causal << " mask " << (m != nullptr));
        const auto out = lsh_attention(qk, v, Tensor<double>(), options(1, rounds, L + 2), causal, m).value();
        CHECK(max_abs_diff(out, shared_qk_oracle(qk, v, causal, m)) < 1e-12);
      }
  // The self-mask matters: query 0 of a causal sequence sees only itself, and a bidirectional
  // query never sees itself when another key exists.
  const auto out = lsh_attention(qk, v, Tensor<double>(), options(1, 1, L), true).value();
  CHECK(std::abs(out(0, 0, 0) - v.value()(0, 0, 0)) < 1e-12);
}

TEST_CASE("lsh attention: rounds that hash alike combine to the one round's output", "[layers][lsh]") {
  // Equal log-sum-exps weigh the rounds equally; a round's weight sums to one over the rounds.
  auto qk = random_tensor({2, 11, 4}, 20), v = random_tensor({2, 11, 3}, 21);
  const LshOptions one = options(4, 1, 3), three = options(4, 3, 3);
  const auto r1 = rotations_for(one, 4, 22);
  Array<double> r3 = empty_array<double>({3, 4, 2});
  for (std::size_t r = 0; r < 3; ++r) std::copy(r1.data(), r1.data() + 8, r3.data() + r * 8);
  const auto single = lsh_attention(qk, v, r1, one, false).value();
  CHECK(max_abs_diff(lsh_attention(qk, v, Tensor<double>(r3), three, false).value(), single) < 1e-12);
  CHECK(max_abs_diff(lsh_attention(qk, v, rotations_for(three, 4, 23), three, false).value(), single) > 1e-3);
}

TEST_CASE("lsh attention: a token in another bucket, or outside the neighbouring chunk, does not reach an output",
          "[layers][lsh]") {
  const std::size_t L = 24, d = 6;
  auto qk = random_tensor({1, L, d}, 6), v = random_tensor({1, L, 3}, 7);
  const LshOptions o = options(4, 1, 4);
  const auto rotations = rotations_for(o, d, 8);
  const Indices buckets = lsh_buckets(qk, rotations, o);  // [1, 1, L]
  const auto before = lsh_attention(qk, v, rotations, o, false).value();
  const std::size_t j = 5;
  // Move token j's query/key and value, keeping its bucket (so the sort is unchanged).
  auto qk2 = Tensor<double>(qk.value()), v2 = Tensor<double>(v.value());
  for (std::size_t t = 0; t < d; ++t) qk2.value()(0, j, t) *= (t % 2 ? 1.3 : 0.8);
  for (std::size_t t = 0; t < 3; ++t) v2.value()(0, j, t) += 2;
  const bool same_buckets = lsh_buckets(qk2, rotations, o) == buckets;
  REQUIRE(same_buckets);
  const auto after = lsh_attention(qk2, v2, rotations, o, false).value();
  std::size_t other_buckets = 0, changed_same_bucket = 0;
  for (std::size_t i = 0; i < L; ++i) {
    double diff = 0;
    for (std::size_t t = 0; t < 3; ++t) diff = std::max(diff, std::abs(after(0, i, t) - before(0, i, t)));
    if (buckets(0, 0, i) != buckets(0, 0, j)) {
      ++other_buckets;
      CHECK(diff == 0);
    } else if (i != j && diff > 1e-6) {
      ++changed_same_bucket;
    }
  }
  CHECK(other_buckets > 0);
  CHECK(changed_same_bucket > 0);  // the check can fail: j does reach its own bucket

  // One bucket, chunks of 3: positions are the sorted order, query i sees chunks i/3 - 1 and i/3.
  const LshOptions one = options(1, 1, 3);
  const auto base = lsh_attention(qk, v, Tensor<double>(), one, false).value();
  auto v3 = Tensor<double>(v.value());
  v3.value()(0, 13, 0) += 5;  // chunk 4: seen by chunks 4 and 5 only
  const auto moved = lsh_attention(qk, v3, Tensor<double>(), one, false).value();
  for (std::size_t i = 0; i < L; ++i) {
    const bool sees = i / 3 == 4 || i / 3 == 5;
    INFO("query " << i);
    if (sees && i != 13) CHECK(moved(0, i, 0) != base(0, i, 0));
    if (!sees) CHECK(moved(0, i, 0) == base(0, i, 0));
  }
}

TEST_CASE("lsh attention: causal outputs do not depend on later tokens, hashes included", "[layers][lsh][causal]") {
  const std::size_t L = 30, d = 4, cut = 17;
  auto qk = random_tensor({2, L, d}, 9), v = random_tensor({2, L, 2}, 10);
  const LshOptions o = options(4, 3, 3);
  const auto rotations = rotations_for(o, d, 11);
  const Mask mask = tail_padding(2, L, {0, 4});
  const auto before = lsh_attention(qk, v, rotations, o, true, &mask).value();
  // Later tokens get new queries (so new buckets, moving the chunk boundaries of a global sort)
  // and new values.
  auto qk2 = Tensor<double>(qk.value()), v2 = Tensor<double>(v.value());
  for (std::size_t s = 0; s < 2; ++s)
    for (std::size_t l = cut; l < L; ++l) {
      for (std::size_t t = 0; t < d; ++t) qk2.value()(s, l, t) = -qk2.value()(s, l, (t + 1) % d) + 0.5;
      for (std::size_t t = 0; t < 2; ++t) v2.value()(s, l, t) -= 3;
    }
  const bool same_buckets = lsh_buckets(qk2, rotations, o) == lsh_buckets(qk, rotations, o);
  REQUIRE_FALSE(same_buckets);
  const auto after = lsh_attention(qk2, v2, rotations, o, true, &mask).value();
  std::size_t later_changed = 0;
  for (std::size_t s = 0; s < 2; ++s)
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t t = 0; t < 2; ++t) {
        if (l < cut) CHECK(after(s, l, t) == before(s, l, t));
        else later_changed += after(s, l, t) != before(s, l, t);
      }
  CHECK(later_changed > 0);
}

TEST_CASE("lsh attention: buckets follow argmax([xR, -xR]) and options are checked", "[layers][lsh][errors]") {
  auto qk = random_tensor({1, 5, 3}, 12);
  const LshOptions o = options(6, 2, 2);
  const auto rotations = rotations_for(o, 3, 13);
  const Indices b = lsh_buckets(qk, rotations, o);
  REQUIRE(to_shape(b.shape()) == Shape{1, 2, 5});
  for (std::size_t r = 0; r < 2; ++r)
    for (std::size_t i = 0; i < 5; ++i) {
      std::vector<double> h(6);
      for (std::size_t j = 0; j < 3; ++j) {
        for (std::size_t t = 0; t < 3; ++t) h[j] += qk.value()(0, i, t) * rotations.value()(r, t, j);
        h[j + 3] = -h[j];
      }
      const std::int64_t expected = std::max_element(h.begin(), h.end()) - h.begin();
      CHECK(b(0, r, i) == expected);
    }
  auto v = random_tensor({1, 5, 2}, 14);
  REQUIRE_THROWS_WITH(lsh_attention(qk, v, rotations, options(3, 2, 2), false), Catch::Contains("buckets") && Catch::Contains("got 3"));
  REQUIRE_THROWS_WITH(lsh_attention(qk, v, rotations, options(6, 2, 0), false), Catch::Contains("chunk"));
  REQUIRE_THROWS_WITH(lsh_attention(qk, v, rotations, options(8, 2, 2), false),
                      Catch::Contains("rotations [2,3,3]") && Catch::Contains("[2,3,4]"));
}

TEST_CASE("lsh attention: the multi-head layer is shared-QK, gradchecks, and refuses RNN mode",
          "[layers][lsh][mha][gradcheck]") {
  MultiHeadAttentionConfig c;
  c.model_width = 8;
  c.heads = 2;
  c.kernel = AttentionKernel::reformer;
  c.lsh = options(2, 2, 2);
  c.causal = true;
  Rng rng(2);
  MultiHeadAttention<double> mha(c, rng);
  for (const auto& [name, p] : mha.named_parameters()) CHECK(name.rfind("k_proj", 0) != 0);
  const auto buffers = mha.named_buffers();
  CHECK(std::any_of(buffers.begin(), buffers.end(), [](const auto& b) { return b.first == "lsh.rotations"; }));
  auto x = random_tensor({2, 7, 8}, 3, 1.5);
  const Mask mask = tail_padding(2, 7, {0, 2});
  Vec inputs{x};
  for (const auto& [name, p] : mha.named_parameters()) inputs.push_back(p);
  require_gradcheck([&](const Vec& in) { return mha.forward(in[0], &mask); }, inputs);
  REQUIRE_THROWS_WITH(mha.initial_state(1), Catch::Contains("reformer"));
}
