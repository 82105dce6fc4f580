#include "models/performer_lm.hpp"

#include <algorithm>
#include <stdexcept>

#include "engine/ops/matmul.hpp"
#include "engine/ops/softmax.hpp"

namespace pf {

template <class T>
PerformerLM<T>::PerformerLM(const PerformerConfig& config) {
  Rng rng(config.seed);
  stack_ = this->register_module("stack", std::make_shared<PerformerStack<T>>(config, rng));
  if (!config.tie_embeddings)
    output_ = this->register_module("output", std::make_shared<Linear<T>>(config.width, config.vocab, rng, false));
}

// logits = h E^T with the embedding table E [V, D] (tied), or h W^T (untied).
template <class T>
Tensor<T> PerformerLM<T>::head(const Tensor<T>& hidden) const {
  if (output_) return output_->forward(hidden);
  return matmul(hidden, stack_->token_table(), false, true);
}

template <class T>
Tensor<T> PerformerLM<T>::forward(const Indices& ids, const Mask* key_padding) {
  return head(stack_->forward(ids, key_padding));
}

template <class T>
Tensor<T> PerformerLM<T>::loss(const Indices& ids, const Indices& targets, std::int64_t ignore_index,
                               const Mask* key_padding) {
  return cross_entropy(forward(ids, key_padding), targets, ignore_index);
}

template <class T>
bool PerformerLM<T>::supports_recurrent_generation() const {
  return config().causal && is_favor_kernel(config().attention);
}

template <class T>
Tensor<T> PerformerLM<T>::step(const Indices& tokens, State& state) const {
  if (!supports_recurrent_generation())
    throw std::invalid_argument("PerformerLM::step: recurrent generation needs a causal model with a FAVOR kernel (attention '" +
                                attention_kernel_name(config().attention) + "', causal " + (config().causal ? "true" : "false") + ")");
  NoGradGuard no_grad;
  return head(stack_->step(tokens, state));
}

template <class T>
Tensor<T> PerformerLM<T>::prefill(const Indices& ids, State& state) const {
  if (!supports_recurrent_generation())
    throw std::invalid_argument("PerformerLM::prefill: recurrent generation needs a causal model with a FAVOR kernel (attention '" +
                                attention_kernel_name(config().attention) + "', causal " + (config().causal ? "true" : "false") + ")");
  NoGradGuard no_grad;
  const Tensor<T> hidden = stack_->prefill(ids, state);
  const std::size_t B = hidden.size(0), L = hidden.size(1), D = hidden.size(2);
  Array<T> last = empty_array<T>({B, D});
  for (std::size_t b = 0; b < B; ++b)
    std::copy_n(hidden.data() + (b * L + L - 1) * D, D, last.data() + b * D);
  return head(Tensor<T>(std::move(last)));
}

template class PerformerLM<float>;
template class PerformerLM<double>;

}  // namespace pf
