// One Performer block (pre-LayerNorm transformer block):
//   x = x + dropout(attention(layer_norm_1(x)))
//   x = x + dropout(feed_forward(layer_norm_2(x))),   feed_forward = Linear(D, F) gelu Linear(F, D)
// x [B, L, D]. Attention is any kernel of MultiHeadAttention (exact softmax or FAVOR).
#pragma once

#include <memory>

#include "layers/dropout.hpp"
#include "layers/layer_norm.hpp"
#include "layers/mlp.hpp"
#include "layers/attention/multihead_attention.hpp"
#include "models/performer_config.hpp"

namespace pf {

// The attention settings a config implies (kernel, features, causal flag, rotary, seed).
MultiHeadAttentionConfig attention_config(const PerformerConfig& config, std::size_t layer_index);

template <class T>
class PerformerBlock : public Module<T> {
 public:
  PerformerBlock(const PerformerConfig& config, std::size_t layer_index, Rng& rng);

  Tensor<T> forward(const Tensor<T>& x, const Mask* key_padding = nullptr);

  // RNN mode (causal FAVOR): one token per sequence, x_t [B, D] -> [B, D]. No gradient.
  using State = typename MultiHeadAttention<T>::State;
  State initial_state(std::size_t batch) const { return attention_->initial_state(batch); }
  Tensor<T> step(const Tensor<T>& x_t, State& state) const;
  // L tokens per sequence in one pass: x [B, L, D] -> [B, L, D]; equals L step() calls.
  Tensor<T> prefill(const Tensor<T>& x, State& state) const;

  // For RNN-mode code that reads the weights directly (models/performer_decoder).
  const LayerNorm<T>& norm_1() const { return *norm_1_; }
  const LayerNorm<T>& norm_2() const { return *norm_2_; }
  const MultiHeadAttention<T>& attention() const { return *attention_; }
  const MLP<T>& feed_forward() const { return *feed_forward_; }

  MultiHeadAttention<T>& attention() { return *attention_; }
  Dropout<T>& attention_dropout() { return *attention_dropout_; }
  Dropout<T>& feed_forward_dropout() { return *feed_forward_dropout_; }

 private:
  std::shared_ptr<LayerNorm<T>> norm_1_, norm_2_;
  std::shared_ptr<MultiHeadAttention<T>> attention_;
  std::shared_ptr<MLP<T>> feed_forward_;
  std::shared_ptr<Dropout<T>> attention_dropout_, feed_forward_dropout_;
};

}  // namespace pf
