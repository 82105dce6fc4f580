#include "layers/attention/multihead_attention.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/affine.hpp"
#include "engine/ops/shape_ops.hpp"
#include "layers/attention/exact_attention.hpp"
#include "layers/attention/position_encoding.hpp"

namespace pf {

const NameTable<AttentionKernel>& name_table(AttentionKernel) {
  static const NameTable<AttentionKernel> table = {{AttentionKernel::exact, "exact"},
                                                   {AttentionKernel::favor_positive, "favor-positive"},
                                                   {AttentionKernel::favor_hyperbolic, "favor-hyperbolic"},
                                                   {AttentionKernel::favor_trig, "favor-trig"},
                                                   {AttentionKernel::favor_relu, "favor-relu"},
                                                   {AttentionKernel::favor_custom, "favor-custom"},
                                                   {AttentionKernel::linformer, "linformer"},
                                                   {AttentionKernel::reformer, "reformer"}};
  return table;
}

template <class T>
MultiHeadAttention<T>::MultiHeadAttention(const MultiHeadAttentionConfig& config, Rng& rng) : config_(config) {
  const std::size_t D = config.model_width, H = config.heads;
  if (D == 0 || H == 0 || D % H != 0)
    throw std::invalid_argument(
        fmt::format("MultiHeadAttention: model width {} must be a positive multiple of heads {}", D, H));
  if (config.rotary && config.head_width() % 2 != 0)
    throw std::invalid_argument(
        fmt::format("MultiHeadAttention: rotary positions need an even head width, got {}", config.head_width()));
  if (config.kernel == AttentionKernel::favor_custom && (!config.custom.f || !config.custom.df))
    throw std::invalid_argument("MultiHeadAttention: favor-custom needs config.custom with f and df");
  q_proj_ = this->register_module("q_proj", std::make_shared<Linear<T>>(D, D, rng, config.bias));
  if (config.kernel != AttentionKernel::reformer)  // reformer: shared-QK, the keys come from q
    k_proj_ = this->register_module("k_proj", std::make_shared<Linear<T>>(D, D, rng, config.bias));
  v_proj_ = this->register_module("v_proj", std::make_shared<Linear<T>>(D, D, rng, config.bias));
  out_proj_ = this->register_module("out_proj", std::make_shared<Linear<T>>(D, D, rng, config.bias));
  if (is_favor()) {
    const ProjectionSpec spec{config.effective_features(), config.head_width(), config.projection, config.row_norm};
    projection_ = std::make_unique<RandomProjection<T>>(spec, config.projection_seed);
    this->register_buffer("projection", projection_->matrix());
    this->register_buffer("projection_rng", projection_->state());
    forward_calls_ = this->register_buffer("forward_calls", Tensor<T>::zeros({1}));
  }
  if (config.kernel == AttentionKernel::linformer)
    linformer_ = this->register_module(
        "linformer", std::make_shared<LinformerAttention<T>>(config.linformer_k, config.max_length, config.causal, rng));
  if (config.kernel == AttentionKernel::reformer)
    lsh_ = this->register_module(
        "lsh", std::make_shared<LshAttention<T>>(config.head_width(), config.lsh, config.causal, config.projection_seed));
}

template <class T>
void MultiHeadAttention<T>::redraw_projection() {
  if (projection_) projection_->redraw();
}

template <class T>
Tensor<T> MultiHeadAttention<T>::projection() const {
  return projection_ ? projection_->matrix() : Tensor<T>();
}

template <class T>
Tensor<T> MultiHeadAttention<T>::query_features(const Tensor<T>& q) const {
  const Tensor<T>& w = projection_->matrix();
  switch (config_.kernel) {
    case AttentionKernel::favor_positive: return positive_features(q, w, Stabiliser::row_max, config_.query_eps);
    case AttentionKernel::favor_hyperbolic: return hyperbolic_features(q, w, Stabiliser::row_max, config_.query_eps);
    case AttentionKernel::favor_trig: return trig_features(q, w);
    case AttentionKernel::favor_relu:
      return generalized_features(q, w, FeatureFunction::relu(), config_.generalized_eps);
    default: return generalized_features(q, w, config_.custom, config_.generalized_eps);
  }
}

template <class T>
Tensor<T> MultiHeadAttention<T>::key_features(const Tensor<T>& k) const {
  const Tensor<T>& w = projection_->matrix();
  const Stabiliser st = config_.causal ? Stabiliser::none : Stabiliser::slice_max;
  switch (config_.kernel) {
    case AttentionKernel::favor_positive: return positive_features(k, w, st, 0.0);
    case AttentionKernel::favor_hyperbolic: return hyperbolic_features(k, w, st, 0.0);
    case AttentionKernel::favor_trig: return trig_features(k, w);
    case AttentionKernel::favor_relu:
      return generalized_features(k, w, FeatureFunction::relu(), config_.generalized_eps);
    default: return generalized_features(k, w, config_.custom, config_.generalized_eps);
  }
}

template <class T>
Tensor<T> MultiHeadAttention<T>::project_heads(const Linear<T>& projection, const Tensor<T>& x) const {
  const std::size_t B = x.size(0), L = x.size(1), H = config_.heads;
  const std::size_t d = config_.head_width();
  return affine_permuted(x, projection.weight(), projection.has_bias() ? &projection.bias() : nullptr, {B, L, H, d},
                         {0, 2, 1, 3}, {B, H, L, d});
}

template <class T>
Tensor<T> MultiHeadAttention<T>::merge_heads(const Tensor<T>& x) const {
  const std::size_t B = x.size(0), L = x.size(2);
  return permute_as(x, x.shape(), {0, 2, 1, 3}, {B, L, config_.model_width});
}

template <class T>
Tensor<T> MultiHeadAttention<T>::forward(const Tensor<T>& x, const Mask* key_padding) {
  if (x.dim() != 3 || x.size(2) != config_.model_width)
    throw std::invalid_argument(fmt::format("MultiHeadAttention: x must be [B, L, {}], got {}", config_.model_width,
                                            shape_str(x.shape())));
  if (key_padding && to_shape(key_padding->shape()) != Shape{x.size(0), x.size(1)})
    throw std::invalid_argument(fmt::format("MultiHeadAttention: key padding mask {} must be [B, L] = [{},{}]",
                                            shape_str(to_shape(key_padding->shape())), x.size(0), x.size(1)));
  if (is_favor() && this->is_training() && config_.redraw_interval > 0) {
    T& calls = forward_calls_.value().data()[0];
    if (calls > 0 && std::size_t(calls) % config_.redraw_interval == 0) redraw_projection();
    calls += T(1);
  }
  Tensor<T> q = project_heads(*q_proj_, x);
  Tensor<T> k = k_proj_ ? project_heads(*k_proj_, x) : Tensor<T>();
  Tensor<T> v = project_heads(*v_proj_, x);
  if (config_.rotary) {
    q = apply_rotary(q);
    if (k_proj_) k = apply_rotary(k);
  }
  Tensor<T> heads;
  if (linformer_) {
    heads = linformer_->forward(q, k, v, key_padding);
  } else if (lsh_) {
    heads = lsh_->forward(q, v, key_padding);
  } else if (!is_favor()) {
    heads = exact_attention(q, k, v, config_.causal, key_padding);
  } else {
    const Tensor<T> qf = query_features(q), kf = key_features(k);
    heads = config_.causal ? favor_causal_chunked(qf, kf, v, key_padding, config_.chunk)
                           : favor_bidirectional(qf, kf, v, key_padding);
  }
  return out_proj_->forward(merge_heads(heads));
}

template <class T>
typename MultiHeadAttention<T>::State MultiHeadAttention<T>::initial_state(std::size_t batch) const {
  if (!is_favor() || !config_.causal)
    throw std::invalid_argument(fmt::format("MultiHeadAttention::initial_state: RNN mode needs a causal FAVOR kernel "
                                            "(kernel {}, causal {})",
                                            attention_kernel_name(config_.kernel), config_.causal));
  State s;
  const std::size_t M = query_features(Tensor<T>::zeros({1, config_.head_width()})).size(-1);
  s.favor = FavorCausalState<T>(batch * config_.heads, M, config_.head_width());
  return s;
}

template <class T>
Tensor<T> MultiHeadAttention<T>::step(const Tensor<T>& x_t, State& state) const {
  const std::size_t B = x_t.dim() == 2 ? x_t.size(0) : 0, H = config_.heads, d = config_.head_width();
  if (x_t.dim() != 2 || x_t.size(1) != config_.model_width || B * H != state.favor.slices)
    throw std::invalid_argument(fmt::format("MultiHeadAttention::step: x_t {} must be [B, {}] with B matching the "
                                            "state ({} slices of {} heads)",
                                            shape_str(x_t.shape()), config_.model_width, state.favor.slices, H));
  NoGradGuard no_grad;
  const Shape heads_shape{B, H, 1, d};  // one token: [B, 1, D] -> [B, 1, H, d] is [B, H, 1, d] in memory
  Tensor<T> q = reshape(q_proj_->forward(x_t), heads_shape);
  Tensor<T> k = reshape(k_proj_->forward(x_t), heads_shape);
  Tensor<T> v = reshape(v_proj_->forward(x_t), {B, H, d});
  if (config_.rotary) {
    q = apply_rotary(q, state.position);
    k = apply_rotary(k, state.position);
  }
  const Tensor<T> qf = query_features(q), kf = key_features(k);
  const std::size_t M = qf.size(-1);
  Tensor<T> heads = favor_causal_step(reshape(qf, {B, H, M}), reshape(kf, {B, H, M}), v, state.favor);
  ++state.position;
  return out_proj_->forward(reshape(heads, {B, config_.model_width}));
}

template <class T>
Tensor<T> MultiHeadAttention<T>::prefill(const Tensor<T>& x, State& state) const {
  const std::size_t B = x.dim() == 3 ? x.size(0) : 0, H = config_.heads;
  if (x.dim() != 3 || x.size(2) != config_.model_width || B * H != state.favor.slices)
    throw std::invalid_argument(fmt::format("MultiHeadAttention::prefill: x {} must be [B, L, {}] with B matching the "
                                            "state ({} slices of {} heads)",
                                            shape_str(x.shape()), config_.model_width, state.favor.slices, H));
  NoGradGuard no_grad;
  Tensor<T> q = project_heads(*q_proj_, x);
  Tensor<T> k = project_heads(*k_proj_, x);
  const Tensor<T> v = project_heads(*v_proj_, x);
  if (config_.rotary) {
    q = apply_rotary(q, state.position);
    k = apply_rotary(k, state.position);
  }
  const Tensor<T> heads = favor_causal_prefill(query_features(q), key_features(k), v, state.favor, config_.chunk);
  state.position += x.size(1);
  return out_proj_->forward(merge_heads(heads));
}

template class MultiHeadAttention<float>;
template class MultiHeadAttention<double>;

}  // namespace pf
