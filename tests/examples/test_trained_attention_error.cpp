// The attention-output error of a model's own layers against exact softmax attention
// (examples/common/trained_attention_error.hpp): the exact reference is checked against softmax
// attention written out by hand from the layer's weights, the FAVOR twin against the layer's own
// forward, and the error against the number of random features and a redraw.
#include <cmath>
#include <map>

#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "models/performer_lm.hpp"
#include "trained_attention_error.hpp"

using namespace pf;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

MultiHeadAttentionConfig layer_config(bool causal) {
  MultiHeadAttentionConfig c;
  c.model_width = 8;
  c.heads = 2;
  c.kernel = AttentionKernel::favor_positive;
  c.features = 32;
  c.causal = causal;
  return c;
}

std::map<std::string, Tensor<float>> params_of(const Module<float>& m) {
  std::map<std::string, Tensor<float>> out;
  for (const auto& [name, t] : m.named_parameters()) out.emplace(name, t);
  return out;
}

// softmax(q k^T / sqrt(d)) v per head, q = x Wq^T + bq etc., in double, heads merged: [L, D] of batch row 0.
std::vector<double> hand_softmax_attention(const MultiHeadAttention<float>& layer, const Tensor<float>& x, bool causal) {
  auto p = params_of(layer);
  const std::size_t L = x.size(1), D = x.size(2), H = layer.config().heads, d = D / H;
  auto project = [&](const std::string& which) {
    const Tensor<float>& w = p.at(which + ".weight");
    const Tensor<float>& b = p.at(which + ".bias");
    std::vector<double> out(L * D);
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t o = 0; o < D; ++o) {
        double s = b.data()[o];
        for (std::size_t i = 0; i < D; ++i) s += double(w.data()[o * D + i]) * x.data()[l * D + i];
        out[l * D + o] = s;
      }
    return out;
  };
  const auto q = project("q_proj"), k = project("k_proj"), v = project("v_proj");
  std::vector<double> out(L * D, 0.0);
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t i = 0; i < L; ++i) {
      std::vector<double> score(L, -INFINITY);
      double top = -INFINITY;
      for (std::size_t j = 0; j < (causal ? i + 1 : L); ++j) {
        double s = 0;
        for (std::size_t c = 0; c < d; ++c) s += q[i * D + h * d + c] * k[j * D + h * d + c];
        score[j] = s / std::sqrt(double(d));
        top = std::max(top, score[j]);
      }
      double total = 0;
      for (double& s : score) total += s = std::exp(s - top);
      for (std::size_t j = 0; j < L; ++j)
        for (std::size_t c = 0; c < d; ++c) out[i * D + h * d + c] += score[j] / total * v[j * D + h * d + c];
    }
  return out;
}

double relative_error_of_model(std::size_t features, std::vector<LayerAttentionError>* keep = nullptr) {
  PerformerConfig c;
  c.vocab = 16;
  c.width = 16;
  c.depth = 2;
  c.heads = 2;
  c.ff_hidden = 32;
  c.context = 32;
  c.features = features;
  c.causal = false;
  c.seed = 4;
  PerformerLM<float> model(c);
  Rng rng(8);
  Indices ids = Indices::from_shape({2, 32});
  for (auto& id : ids) id = std::int64_t(rng.below(16));
  std::vector<LayerAttentionError> errors;
  add_attention_errors(model.stack(), ids, nullptr, errors);
  REQUIRE(errors.size() == 2);
  if (keep) *keep = errors;
  return errors[1].before();
}

}  // namespace

TEST_CASE("attention error: the exact reference is softmax attention with the layer's own q, k, v", "[trained_attention_error]") {
  for (bool causal : {false, true}) {
    Rng rng(3);
    MultiHeadAttention<float> layer(layer_config(causal), rng);
    const Tensor<float> x = randn<float>({1, 6, 8}, rng);
    const AttentionOutputs out = attention_outputs(layer, x, nullptr, false);
    const std::vector<double> expected = hand_softmax_attention(layer, x, causal);
    REQUIRE(out.exact.numel() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("causal " << causal << " element " << i);
      CHECK(out.exact.data()[i] == Approx(expected[i]).margin(1e-5));
    }
  }
}

TEST_CASE("attention error: the FAVOR twin computes what the layer computes, up to its output projection",
          "[trained_attention_error]") {
  Rng rng(5);
  MultiHeadAttention<float> layer(layer_config(true), rng);
  layer.eval();
  const Tensor<float> x = randn<float>({2, 5, 8}, rng);
  const AttentionOutputs out = attention_outputs(layer, x, nullptr, false);
  NoGradGuard no_grad;
  const Tensor<float> through_layer = layer.forward(x);
  auto p = params_of(layer);
  const Tensor<float> mine = add(matmul(out.favor, transpose(p.at("out_proj.weight"), 0, 1)), p.at("out_proj.bias"));
  REQUIRE(mine.numel() == through_layer.numel());
  for (std::size_t i = 0; i < mine.numel(); ++i) CHECK(mine.data()[i] == Approx(through_layer.data()[i]).margin(1e-5));

  // A redraw gives another output; the layer itself keeps its projection.
  const Tensor<float> w_before = layer.projection();
  const std::vector<float> kept(w_before.data(), w_before.data() + w_before.numel());
  const AttentionOutputs redrawn = attention_outputs(layer, x, nullptr, true);
  double moved = 0;
  for (std::size_t i = 0; i < out.favor.numel(); ++i) moved += std::abs(redrawn.favor.data()[i] - out.favor.data()[i]);
  CHECK(moved > 1e-4);
  CHECK(std::equal(kept.begin(), kept.end(), layer.projection().data()));
}

TEST_CASE("attention error: small with many random features, larger with few, changed by a redraw",
          "[trained_attention_error]") {
  std::vector<LayerAttentionError> many;
  const double with_many = relative_error_of_model(512, &many);
  const double with_few = relative_error_of_model(2);
  INFO("relative error m=512: " << with_many << ", m=2: " << with_few);
  CHECK(with_many < 0.1);
  CHECK(with_few > 3 * with_many);
  for (const auto& e : many) {
    CHECK(std::isfinite(e.after()));
    CHECK(e.after() != e.before());
    CHECK(e.after() < 0.1);
  }
}

TEST_CASE("attention error: an exact-attention layer is refused by name", "[trained_attention_error]") {
  Rng rng(1);
  MultiHeadAttentionConfig c = layer_config(false);
  c.kernel = AttentionKernel::exact;
  MultiHeadAttention<float> layer(c, rng);
  REQUIRE_THROWS_WITH(attention_outputs(layer, randn<float>({1, 4, 8}, rng), nullptr, false), Contains("exact attention"));
}
