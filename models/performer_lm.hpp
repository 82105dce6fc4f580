// PerformerLM: a token model on a PerformerStack with an output head over the vocabulary
// (tied to the token embedding, or its own Linear).
//   causal = true:  a decoder (next-token prediction; RNN-mode generation with FAVOR kernels)
//   causal = false: a bidirectional token model (masked-token prediction)
//   ids [B, L] -> logits [B, L, V]
#pragma once

#include <memory>

#include "models/performer_stack.hpp"

namespace pf {

template <class T>
class PerformerLM : public Module<T> {
 public:
  explicit PerformerLM(const PerformerConfig& config);

  Tensor<T> forward(const Indices& ids, const Mask* key_padding = nullptr);
  // Mean cross-entropy (nats per token) of the logits against targets [B, L]; positions with
  // target == ignore_index do not count.
  Tensor<T> loss(const Indices& ids, const Indices& targets, std::int64_t ignore_index = -100,
                 const Mask* key_padding = nullptr);

  // RNN mode (causal FAVOR kernels): feed one token per sequence, get next-token logits [B, V].
  // Cost per token is O(layers * H * M * d), whatever the number of tokens before it.
  using State = typename PerformerStack<T>::State;
  State initial_state(std::size_t batch) const { return stack_->initial_state(batch); }
  Tensor<T> step(const Indices& tokens, State& state) const;
  // A prompt in one pass: ids [B, L] (the tokens after the state's) -> the logits after the last
  // one [B, V]; the state then equals that of L step() calls. No gradient.
  Tensor<T> prefill(const Indices& ids, State& state) const;
  // The output head's weight [V, D]: the token table (tied) or the head's own.
  Tensor<T> head_weight() const { return output_ ? output_->weight() : stack_->token_table(); }
  const PerformerStack<T>& stack() const { return *stack_; }
  // Whether step() is available (causal model with a FAVOR kernel).
  bool supports_recurrent_generation() const;

  const PerformerConfig& config() const { return stack_->config(); }
  PerformerStack<T>& stack() { return *stack_; }

 private:
  Tensor<T> head(const Tensor<T>& hidden) const;

  std::shared_ptr<PerformerStack<T>> stack_;
  std::shared_ptr<Linear<T>> output_;  // when the head is not tied
};

}  // namespace pf
