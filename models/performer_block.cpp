#include "models/performer_block.hpp"

#include "engine/ops/elementwise.hpp"

namespace pf {

MultiHeadAttentionConfig attention_config(const PerformerConfig& c, std::size_t layer_index) {
  MultiHeadAttentionConfig a;
  a.model_width = c.width;
  a.heads = c.heads;
  a.kernel = c.attention;
  a.features = c.features;
  a.projection = c.orthogonal ? ProjectionKind::orthogonal : ProjectionKind::iid;
  a.redraw_interval = c.redraw_interval;
  a.causal = c.causal;
  a.rotary = c.positions == PositionKind::rotary;
  // Each layer draws its own features, reproducibly from the model seed.
  a.projection_seed = c.seed * 1000003ULL + layer_index + 1;
  a.max_length = c.context;
  a.linformer_k = c.linformer_k;
  a.lsh = {c.lsh_buckets, c.lsh_rounds, c.lsh_chunk};
  return a;
}

template <class T>
PerformerBlock<T>::PerformerBlock(const PerformerConfig& c, std::size_t layer_index, Rng& rng) {
  norm_1_ = this->register_module("norm_1", std::make_shared<LayerNorm<T>>(c.width));
  attention_ = this->register_module("attention", std::make_shared<MultiHeadAttention<T>>(attention_config(c, layer_index), rng));
  norm_2_ = this->register_module("norm_2", std::make_shared<LayerNorm<T>>(c.width));
  feed_forward_ = this->register_module(
      "feed_forward", std::make_shared<MLP<T>>(std::vector<std::size_t>{c.width, c.ff_hidden, c.width}, Activation::gelu, rng));
  const std::uint64_t dropout_seed = c.seed * 7919ULL + 2 * layer_index;
  attention_dropout_ = this->register_module("attention_dropout", std::make_shared<Dropout<T>>(c.dropout, dropout_seed));
  feed_forward_dropout_ =
      this->register_module("feed_forward_dropout", std::make_shared<Dropout<T>>(c.dropout, dropout_seed + 1));
}

template <class T>
Tensor<T> PerformerBlock<T>::forward(const Tensor<T>& x, const Mask* key_padding) {
  Tensor<T> h = x + attention_dropout_->forward(attention_->forward(norm_1_->forward(x), key_padding));
  return h + feed_forward_dropout_->forward(feed_forward_->forward(norm_2_->forward(h)));
}

template <class T>
Tensor<T> PerformerBlock<T>::step(const Tensor<T>& x_t, State& state) const {
  // Dropout is the identity at inference, so the step skips it.
  Tensor<T> h = x_t + attention_->step(norm_1_->forward(x_t), state);
  return h + feed_forward_->forward(norm_2_->forward(h));
}

template <class T>
Tensor<T> PerformerBlock<T>::prefill(const Tensor<T>& x, State& state) const {
  Tensor<T> h = x + attention_->prefill(norm_1_->forward(x), state);
  return h + feed_forward_->forward(norm_2_->forward(h));
}

template class PerformerBlock<float>;
template class PerformerBlock<double>;

}  // namespace pf
