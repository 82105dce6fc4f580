// The same math as our engine, written the standard way in LibTorch ops and left to autograd:
// the reference side of bench/vs_torch. Header-only on purpose: LibTorch's headers are heavy, so
// vs_torch.cpp is the one translation unit that includes them.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace pf::bench::torch_ref {

enum class KeyStabiliser { row_max, slice_max, none };

// FAVOR+ positive features, as layers/feature_maps.hpp defines them:
//   x^ = x d^{-1/4}, u = x^ W^T, s = |x^|^2 / 2, phi = m^{-1/2} (exp(u - s - c) + eps)
// with c the max of u over the row (row_max), over the [L, m] slice (slice_max), or 0. The max
// stays in the graph, as in ours (its gradient flows to the argmax).
inline torch::Tensor positive_features(const torch::Tensor& x, const torch::Tensor& w, KeyStabiliser stabiliser,
                                       double eps) {
  const double d = double(x.size(-1)), m = double(w.size(0));
  const torch::Tensor xh = x * std::pow(d, -0.25);
  const torch::Tensor u = torch::matmul(xh, w.t());
  const torch::Tensor s = 0.5 * xh.pow(2).sum(-1, true);
  torch::Tensor exponent = u - s;
  if (stabiliser == KeyStabiliser::row_max) exponent = exponent - u.amax({-1}, true);
  if (stabiliser == KeyStabiliser::slice_max) exponent = exponent - u.amax({-2, -1}, true);
  return (torch::exp(exponent) + eps) * (1.0 / std::sqrt(m));
}

// Bidirectional: out = phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1).
inline torch::Tensor favor_bidirectional(const torch::Tensor& qf, const torch::Tensor& kf, const torch::Tensor& v) {
  const torch::Tensor kv = torch::matmul(kf.transpose(-2, -1), v);  // [..., M, dv]
  const torch::Tensor z = kf.sum(-2).unsqueeze(-1);                 // [..., M, 1]
  return torch::matmul(qf, kv) / torch::matmul(qf, z);
}

// Causal by cumulative sums: the prefix states S_i = sum_{j<=i} k'_j v_j^T are materialised,
// [..., L, M, dv], and autograd keeps them: the O(L M dv) memory FAVOR+ papers compare against.
inline torch::Tensor favor_causal_cumsum(const torch::Tensor& qf, const torch::Tensor& kf, const torch::Tensor& v) {
  const torch::Tensor states = (kf.unsqueeze(-1) * v.unsqueeze(-2)).cumsum(-3);     // [..., L, M, dv]
  const torch::Tensor num = torch::matmul(qf.unsqueeze(-2), states).squeeze(-2);   // [..., L, dv]
  const torch::Tensor den = (qf * kf.cumsum(-2)).sum(-1, true);                     // [..., L, 1]
  return num / den;
}

// softmax(Q K^T / sqrt(d)) V, with the L x L matrix materialised.
inline torch::Tensor exact_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  return torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
}

// The Performer LM of models/performer_lm with the settings bench/vs_torch uses (learned
// positions, causal FAVOR+ positive features, no dropout, tied head), written functionally over
// tensors named exactly as our model's parameters ("stack.blocks.0.attention.q_proj.weight", ...)
// so its weights can be copied from ours one to one. Causal attention uses the cumulative-sum
// form above. Query features: row max stabiliser and eps; key features: none and no eps (as
// layers/multihead_attention does for causal attention).
struct PerformerLM {
  std::vector<std::pair<std::string, torch::Tensor>> parameters;  // our names, our order
  std::vector<torch::Tensor> projections;                         // per layer, W [m, d]
  std::size_t depth = 0, heads = 0;
  double query_eps = 1e-6, layer_norm_eps = 1e-5;
  bool tied = true;

  const torch::Tensor& at(const std::string& name) const {
    for (const auto& [n, t] : parameters)
      if (n == name) return t;
    throw std::invalid_argument("torch PerformerLM: no parameter named " + name);
  }
  std::vector<torch::Tensor> parameter_list() const {
    std::vector<torch::Tensor> list;
    for (const auto& p : parameters) list.push_back(p.second);
    return list;
  }

  torch::Tensor linear(const torch::Tensor& x, const std::string& prefix) const {
    return torch::linear(x, at(prefix + ".weight"), at(prefix + ".bias"));
  }
  torch::Tensor layer_norm(const torch::Tensor& x, const std::string& prefix) const {
    return torch::layer_norm(x, {x.size(-1)}, at(prefix + ".weight"), at(prefix + ".bias"), layer_norm_eps);
  }

  torch::Tensor attention(const torch::Tensor& x, std::size_t layer) const {
    const std::string p = "stack.blocks." + std::to_string(layer) + ".attention.";
    const std::int64_t B = x.size(0), L = x.size(1), D = x.size(2), H = std::int64_t(heads), d = D / H;
    auto split = [&](const torch::Tensor& t) { return t.view({B, L, H, d}).transpose(1, 2); };
    const torch::Tensor q = split(linear(x, p + "q_proj")), k = split(linear(x, p + "k_proj"));
    const torch::Tensor v = split(linear(x, p + "v_proj"));
    const torch::Tensor& w = projections.at(layer);
    const torch::Tensor heads_out = favor_causal_cumsum(positive_features(q, w, KeyStabiliser::row_max, query_eps),
                                                        positive_features(k, w, KeyStabiliser::none, 0.0), v);
    return linear(heads_out.transpose(1, 2).reshape({B, L, D}), p + "out_proj");
  }

  torch::Tensor loss(const torch::Tensor& ids, const torch::Tensor& targets) const {
    const torch::Tensor table = at("stack.token_embedding.weight");
    const std::int64_t L = ids.size(1);
    torch::Tensor h = torch::embedding(table, ids) + at("stack.positions.weight").slice(0, 0, L);
    for (std::size_t i = 0; i < depth; ++i) {
      const std::string p = "stack.blocks." + std::to_string(i) + ".";
      h = h + attention(layer_norm(h, p + "norm_1"), i);
      const torch::Tensor a = torch::gelu(linear(layer_norm(h, p + "norm_2"), p + "feed_forward.layers.0"));
      h = h + linear(a, p + "feed_forward.layers.1");
    }
    h = layer_norm(h, "stack.final_norm");
    const torch::Tensor logits = tied ? torch::matmul(h, table.t()) : torch::linear(h, at("output.weight"));
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
  }
};

}  // namespace pf::bench::torch_ref
