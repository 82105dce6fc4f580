// The trunk shared by every Performer model: input embedding (token ids, or feature vectors
// through a Linear), positions, N blocks, final LayerNorm.
//   ids [B, L] (or features [B, L, F]) -> hidden [B, L, D]
// Positions: learned table [context, D] or sinusoidal, added to the embedding; rotary is applied
// inside attention; or none.
#pragma once

#include <memory>
#include <vector>

#include "layers/embedding.hpp"
#include "layers/layer_norm.hpp"
#include "layers/linear.hpp"
#include "layers/attention/position_encoding.hpp"
#include "models/performer_block.hpp"
#include "models/performer_config.hpp"

namespace pf {

template <class T>
class PerformerStack : public Module<T> {
 public:
  // input_features = 0: the input is token ids in [0, vocab); otherwise vectors of that width.
  PerformerStack(const PerformerConfig& config, Rng& rng, std::size_t input_features = 0);

  Tensor<T> forward(const Indices& ids, const Mask* key_padding = nullptr);
  Tensor<T> forward(const Tensor<T>& features, const Mask* key_padding = nullptr);
  // The input layer alone: embedding plus positions, [B, L, D] (shapes checked).
  Tensor<T> embed(const Indices& ids) const;
  Tensor<T> embed(const Tensor<T>& features) const;
  // Embedded input -> blocks -> final norm; x [B, L, D].
  Tensor<T> forward_embedded(const Tensor<T>& x, const Mask* key_padding = nullptr);

  // RNN mode (causal FAVOR): one token id per sequence -> hidden [B, D]. No gradient.
  struct State {
    std::vector<typename PerformerBlock<T>::State> blocks;
    std::size_t position = 0;
  };
  State initial_state(std::size_t batch) const;
  Tensor<T> step(const Indices& tokens, State& state) const;
  // L tokens per sequence in one pass, the ones after the state's: ids [B, L] -> hidden [B, L, D];
  // equals L step() calls (hidden states and the state). No gradient.
  Tensor<T> prefill(const Indices& ids, State& state) const;

  const PerformerConfig& config() const { return config_; }
  // The token embedding table [V, D] (empty handle for feature input).
  Tensor<T> token_table() const;
  std::size_t depth() const { return blocks_->size(); }
  PerformerBlock<T>& block(std::size_t i) { return blocks_->at(i); }
  const PerformerBlock<T>& block(std::size_t i) const { return blocks_->at(i); }
  const LayerNorm<T>& final_norm() const { return *final_norm_; }
  // The learned position table [context, D] (empty handle for other position kinds).
  Tensor<T> position_table() const { return learned_positions_ ? learned_positions_->table() : Tensor<T>(); }

 private:
  Tensor<T> embed_tokens(const Indices& ids, std::size_t offset) const;
  Tensor<T> add_positions(const Tensor<T>& x, std::size_t offset) const;

  PerformerConfig config_;
  std::shared_ptr<Embedding<T>> token_embedding_;
  std::shared_ptr<Linear<T>> feature_embedding_;
  std::shared_ptr<LearnedPositionEmbedding<T>> learned_positions_;
  std::shared_ptr<ModuleList<T, PerformerBlock<T>>> blocks_;
  std::shared_ptr<LayerNorm<T>> final_norm_;
};

}  // namespace pf
