// Multi-head attention on x [B, L, D] with a choice of kernel: exact softmax, FAVOR with
// positive (FAVOR+), hyperbolic, trigonometric, ReLU or a custom feature function, Linformer
// (linformer_attention.hpp) or Reformer-style LSH attention (lsh_attention.hpp, shared-QK: no k_proj).
//
//   q, k, v = x Wq^T, x Wk^T, x Wv^T (+ biases) -> heads [B, H, L, d], d = D / H
//   (rotary positions, if on, rotate q and k here)
//   exact:  softmax(q k^T / sqrt(d)) v   (causal / key padding masks)
//   favor:  q' = phi(q), k' = phi(k) with W [m, d] (a buffer: saved with the model), then
//           favor_bidirectional or favor_causal_chunked (layers/attention/favor_attention.hpp)
//   linformer: softmax(q (E k)^T / sqrt(d)) (F v), E, F [linformer_k, max_length] parameters
//   reformer:  lsh_attention(q, v): keys are the normalised q (k_proj is not built), rotations a buffer
//   out = merge(heads) Wo^T + bo
//
// Feature-map details (why): queries use the per-row max stabiliser and a small eps; keys use
// the per-slice max in bidirectional attention, and no stabiliser in causal attention: a
// sequence-wide max would let later keys touch earlier outputs and does not exist in RNN mode,
// and none is needed against overflow there because the key exponent w.k^ - |k^|^2/2 is at most
// |w|^2/2. Keys get no eps for the positive and hyperbolic maps (the stabilised exponentials are
// positive, and an additive eps would swamp keys far below the slice max).
//
// Redraw: with redraw_interval = N > 0, every N-th forward call in training mode draws a new W
// first (the call counter and the generator state are buffers too, so a resumed run redraws at
// the same steps with the same matrices).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "engine/core/random.hpp"
#include "layers/attention/favor_attention.hpp"
#include "layers/attention/feature_maps.hpp"
#include "layers/attention/linformer_attention.hpp"
#include "layers/attention/lsh_attention.hpp"
#include "layers/linear.hpp"
#include "layers/module.hpp"
#include "layers/name_table.hpp"
#include "layers/attention/random_projection.hpp"

namespace pf {

enum class AttentionKernel { exact, favor_positive, favor_hyperbolic, favor_trig, favor_relu, favor_custom, linformer, reformer };

// The names: "exact", "favor-positive", "favor-hyperbolic", "favor-trig", "favor-relu",
// "favor-custom", "linformer", "reformer" (see layers/name_table.hpp).
const NameTable<AttentionKernel>& name_table(AttentionKernel);
inline std::string attention_kernel_name(AttentionKernel kernel) { return name_of(kernel); }
// Throws std::invalid_argument naming `name` and listing the valid names.
inline AttentionKernel parse_attention_kernel(const std::string& name) {
  return parse_name(name_table(AttentionKernel{}), name, "attention kernel");
}
// The random-feature kernels (they have a projection W and an RNN mode when causal).
inline bool is_favor_kernel(AttentionKernel kernel) {
  return kernel != AttentionKernel::exact && kernel != AttentionKernel::linformer && kernel != AttentionKernel::reformer;
}

struct MultiHeadAttentionConfig {
  std::size_t model_width = 0;  // D
  std::size_t heads = 1;        // H (divides D)
  AttentionKernel kernel = AttentionKernel::favor_positive;
  std::size_t features = 0;     // m; 0 picks 4 d (see effective_features)
  ProjectionKind projection = ProjectionKind::orthogonal;
  RowNorm row_norm = RowNorm::chi;
  std::size_t redraw_interval = 0;  // 0: never redraw
  bool causal = false;
  bool rotary = false;              // rotary position encoding on q and k
  bool bias = true;
  double query_eps = 1e-6;          // eps of positive/hyperbolic query features
  double generalized_eps = 1e-3;    // eps of relu/custom features (queries and keys)
  FeatureFunction custom;           // for favor_custom
  std::size_t chunk = kFavorDefaultChunk;
  std::uint64_t projection_seed = 0x5eed;  // also the seed of the LSH rotations
  std::size_t max_length = 0;       // L_max: linformer's E, F are [linformer_k, max_length]
  std::size_t linformer_k = 64;     // k: rows keys and values are projected to (linformer)
  LshOptions lsh;                   // buckets, rounds, chunk (reformer; causal is taken from `causal`)

  std::size_t head_width() const { return heads ? model_width / heads : 0; }
  std::size_t effective_features() const { return features ? features : 4 * head_width(); }
};

template <class T>
class MultiHeadAttention : public Module<T> {
 public:
  MultiHeadAttention(const MultiHeadAttentionConfig& config, Rng& rng);

  // x [B, L, D] -> [B, L, D]. key_padding [B, L] (nonzero = padded), optional.
  Tensor<T> forward(const Tensor<T>& x, const Mask* key_padding = nullptr);
  Tensor<T> operator()(const Tensor<T>& x, const Mask* key_padding = nullptr) { return forward(x, key_padding); }

  // Draw a new random projection now (FAVOR kernels).
  void redraw_projection();
  // The current projection W [m, d] (empty tensor for the exact kernel).
  Tensor<T> projection() const;
  const MultiHeadAttentionConfig& config() const { return config_; }

  // RNN mode (causal FAVOR kernels): the running state of one layer for `batch` sequences.
  struct State {
    FavorCausalState<T> favor;
    std::size_t position = 0;  // tokens consumed (the rotary offset)
  };
  State initial_state(std::size_t batch) const;
  // One token per sequence: x_t [B, D] -> [B, D]; equals forward() at that position. No gradient.
  Tensor<T> step(const Tensor<T>& x_t, State& state) const;
  // L tokens per sequence in one pass (the chunked causal form): x [B, L, D] -> [B, L, D], the
  // tokens following the state's; equals L step() calls, outputs and state. No gradient.
  Tensor<T> prefill(const Tensor<T>& x, State& state) const;

  // For RNN-mode code that reads the layer directly (models/performer_decoder): the projections
  // and the feature maps, q/k [..., L, d] -> features [..., L, M].
  const Linear<T>& q_projection() const { return *q_proj_; }
  const Linear<T>& k_projection() const { return *k_proj_; }
  const Linear<T>& v_projection() const { return *v_proj_; }
  const Linear<T>& out_projection() const { return *out_proj_; }
  Tensor<T> query_features(const Tensor<T>& q) const;
  Tensor<T> key_features(const Tensor<T>& k) const;

 private:
  bool is_favor() const { return is_favor_kernel(config_.kernel); }
  // x [B, L, D] through a projection, straight into heads [B, H, L, d] (one tape node).
  Tensor<T> project_heads(const Linear<T>& projection, const Tensor<T>& x) const;
  Tensor<T> merge_heads(const Tensor<T>& x) const;  // [B, H, L, d] -> [B, L, D]

  MultiHeadAttentionConfig config_;
  std::shared_ptr<Linear<T>> q_proj_, k_proj_, v_proj_, out_proj_;
  std::unique_ptr<RandomProjection<T>> projection_;
  std::shared_ptr<LinformerAttention<T>> linformer_;
  std::shared_ptr<LshAttention<T>> lsh_;
  Tensor<T> forward_calls_;  // buffer [1]: training forward calls so far (for the redraw schedule)
};

}  // namespace pf
