#include "models/performer_stack.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/elementwise.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {

template <class T>
PerformerStack<T>::PerformerStack(const PerformerConfig& config, Rng& rng, std::size_t input_features)
    : config_(config) {
  config_.validate();
  if (input_features == 0) {
    token_embedding_ = this->register_module("token_embedding", std::make_shared<Embedding<T>>(config_.vocab, config_.width, rng));
    // Small embeddings (std 0.02, as GPT-2): with a tied output head, N(0, 1) rows would start
    // with logits of size sqrt(D).
    Tensor<T> table = token_embedding_->weight();
    for (T& w : table.value()) w *= T(0.02);
  } else {
    feature_embedding_ = this->register_module("feature_embedding", std::make_shared<Linear<T>>(input_features, config_.width, rng));
  }
  if (config_.positions == PositionKind::learned)
    learned_positions_ = this->register_module("positions", std::make_shared<LearnedPositionEmbedding<T>>(config_.context, config_.width, rng));
  blocks_ = this->register_module("blocks", std::make_shared<ModuleList<T, PerformerBlock<T>>>());
  for (std::size_t i = 0; i < config_.depth; ++i) blocks_->push_back(std::make_shared<PerformerBlock<T>>(config_, i, rng));
  final_norm_ = this->register_module("final_norm", std::make_shared<LayerNorm<T>>(config_.width));
}

template <class T>
Tensor<T> PerformerStack<T>::token_table() const {
  return token_embedding_ ? token_embedding_->weight() : Tensor<T>();
}

template <class T>
Tensor<T> PerformerStack<T>::add_positions(const Tensor<T>& x, std::size_t offset) const {
  if (learned_positions_) return learned_positions_->forward(x, offset);
  if (config_.positions == PositionKind::sinusoidal) return add_sinusoidal_encoding(x, offset);
  return x;  // rotary acts inside attention; "none" adds nothing
}

template <class T>
Tensor<T> PerformerStack<T>::embed_tokens(const Indices& ids, std::size_t offset) const {
  if (!token_embedding_)
    throw std::invalid_argument("PerformerStack: this model takes feature vectors [B, L, F], not token ids");
  return add_positions(token_embedding_->forward(ids), offset);
}

template <class T>
Tensor<T> PerformerStack<T>::forward(const Indices& ids, const Mask* key_padding) {
  return forward_embedded(embed(ids), key_padding);
}

template <class T>
Tensor<T> PerformerStack<T>::forward(const Tensor<T>& features, const Mask* key_padding) {
  return forward_embedded(embed(features), key_padding);
}

template <class T>
Tensor<T> PerformerStack<T>::embed(const Indices& ids) const {
  if (ids.dimension() != 2)
    throw std::invalid_argument(fmt::format("PerformerStack: token ids must be [B, L], got {}", shape_str(to_shape(ids.shape()))));
  if (ids.shape()[1] > config_.context)
    throw std::invalid_argument(fmt::format("PerformerStack: sequence length {} exceeds the model's context {}",
                                            ids.shape()[1], config_.context));
  return embed_tokens(ids, 0);
}

template <class T>
Tensor<T> PerformerStack<T>::embed(const Tensor<T>& features) const {
  if (!feature_embedding_)
    throw std::invalid_argument("PerformerStack: this model takes token ids [B, L], not feature vectors");
  if (features.dim() != 3 || features.size(2) != feature_embedding_->in_features())
    throw std::invalid_argument(fmt::format("PerformerStack: features must be [B, L, {}], got {}",
                                            feature_embedding_->in_features(), shape_str(features.shape())));
  if (features.size(1) > config_.context)
    throw std::invalid_argument(fmt::format("PerformerStack: sequence length {} exceeds the model's context {}",
                                            features.size(1), config_.context));
  return add_positions(feature_embedding_->forward(features), 0);
}

template <class T>
Tensor<T> PerformerStack<T>::forward_embedded(const Tensor<T>& x, const Mask* key_padding) {
  Tensor<T> h = x;
  for (std::size_t i = 0; i < blocks_->size(); ++i) h = blocks_->at(i).forward(h, key_padding);
  return final_norm_->forward(h);
}

template <class T>
typename PerformerStack<T>::State PerformerStack<T>::initial_state(std::size_t batch) const {
  State state;
  for (std::size_t i = 0; i < blocks_->size(); ++i) state.blocks.push_back(blocks_->at(i).initial_state(batch));
  return state;
}

template <class T>
Tensor<T> PerformerStack<T>::step(const Indices& tokens, State& state) const {
  if (tokens.dimension() != 1)
    throw std::invalid_argument(fmt::format("PerformerStack::step: tokens must be [B], got {}", shape_str(to_shape(tokens.shape()))));
  if (state.position >= config_.context && learned_positions_)
    throw std::invalid_argument(fmt::format("PerformerStack::step: position {} is past the learned positions (context {})",
                                            state.position, config_.context));
  NoGradGuard no_grad;
  const std::size_t B = tokens.shape()[0];
  Indices ids = tokens;
  ids.reshape({B, 1});
  Tensor<T> h = reshape(embed_tokens(ids, state.position), {B, config_.width});
  for (std::size_t i = 0; i < blocks_->size(); ++i) h = blocks_->at(i).step(h, state.blocks[i]);
  ++state.position;
  return final_norm_->forward(h);
}

template <class T>
Tensor<T> PerformerStack<T>::prefill(const Indices& ids, State& state) const {
  if (ids.dimension() != 2 || ids.shape()[1] == 0)
    throw std::invalid_argument(fmt::format("PerformerStack::prefill: ids must be [B, L] with L > 0, got {}",
                                            shape_str(to_shape(ids.shape()))));
  if (learned_positions_ && state.position + ids.shape()[1] > config_.context)
    throw std::invalid_argument(fmt::format("PerformerStack::prefill: positions {} .. {} go past the learned positions "
                                            "(context {})",
                                            state.position, state.position + ids.shape()[1] - 1, config_.context));
  NoGradGuard no_grad;
  Tensor<T> h = embed_tokens(ids, state.position);
  for (std::size_t i = 0; i < blocks_->size(); ++i) h = blocks_->at(i).prefill(h, state.blocks[i]);
  state.position += ids.shape()[1];
  return final_norm_->forward(h);
}

template class PerformerStack<float>;
template class PerformerStack<double>;

}  // namespace pf
