// PerformerClassifier: a bidirectional PerformerStack, pooled to one vector per sequence, then a
// Linear head over the classes.
//   input: token ids [B, L] or feature vectors [B, L, F] (e.g. image patches)
//   pooling: mean over the unpadded positions, or a learned class token prepended to the
//   sequence (its final hidden state is the summary)
//   -> logits [B, C]
#pragma once

#include <memory>
#include <string>

#include "models/performer_stack.hpp"

namespace pf {

enum class Pooling { mean, class_token };
// "mean" / "class-token"; parse throws std::invalid_argument naming the text.
Pooling parse_pooling(const std::string& name);
std::string pooling_name(Pooling pooling);

template <class T>
class PerformerClassifier : public Module<T> {
 public:
  // config.causal is forced to false. input_features = 0 for token ids.
  PerformerClassifier(PerformerConfig config, std::size_t classes, Pooling pooling, std::size_t input_features = 0);

  Tensor<T> forward(const Indices& ids, const Mask* key_padding = nullptr);
  Tensor<T> forward(const Tensor<T>& features, const Mask* key_padding = nullptr);

  const PerformerConfig& config() const { return stack_->config(); }
  std::size_t classes() const { return classes_; }
  Pooling pooling() const { return pooling_; }
  PerformerStack<T>& stack() { return *stack_; }

 private:
  Tensor<T> classify(const Tensor<T>& embedded, const Mask* key_padding);

  std::size_t classes_;
  Pooling pooling_;
  std::shared_ptr<PerformerStack<T>> stack_;
  std::shared_ptr<Linear<T>> head_;
  Tensor<T> class_token_;  // [D], for Pooling::class_token
};

}  // namespace pf
