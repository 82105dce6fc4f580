#include "models/performer_classifier.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/elementwise.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {

Pooling parse_pooling(const std::string& name) {
  if (name == "mean") return Pooling::mean;
  if (name == "class-token") return Pooling::class_token;
  throw std::invalid_argument(fmt::format("unknown pooling '{}' (mean, class-token)", name));
}

std::string pooling_name(Pooling pooling) { return pooling == Pooling::mean ? "mean" : "class-token"; }

template <class T>
PerformerClassifier<T>::PerformerClassifier(PerformerConfig config, std::size_t classes, Pooling pooling,
                                            std::size_t input_features)
    : classes_(classes), pooling_(pooling) {
  if (classes == 0) throw std::invalid_argument("PerformerClassifier: classes must be positive");
  config.causal = false;
  Rng rng(config.seed);
  stack_ = this->register_module("stack", std::make_shared<PerformerStack<T>>(config, rng, input_features));
  head_ = this->register_module("head", std::make_shared<Linear<T>>(config.width, classes, rng));
  if (pooling_ == Pooling::class_token)
    class_token_ = this->register_parameter("class_token", randn<T>({config.width}, rng, T(0.02)));
}

template <class T>
Tensor<T> PerformerClassifier<T>::forward(const Indices& ids, const Mask* key_padding) {
  return classify(stack_->embed(ids), key_padding);
}

template <class T>
Tensor<T> PerformerClassifier<T>::forward(const Tensor<T>& features, const Mask* key_padding) {
  return classify(stack_->embed(features), key_padding);
}

// mean:        pooled_b = sum_l w_bl h_bl,  w_bl = [l not padded] / (number not padded)
// class token: x' = [c; x] (c broadcast over the batch), pooled_b = h_b0
template <class T>
Tensor<T> PerformerClassifier<T>::classify(const Tensor<T>& x, const Mask* key_padding) {
  const std::size_t B = x.size(0), L = x.size(1), D = x.size(2);
  if (key_padding && to_shape(key_padding->shape()) != Shape{B, L})
    throw std::invalid_argument(fmt::format("PerformerClassifier: key padding mask must be [{},{}], got {}", B, L,
                                            shape_str(to_shape(key_padding->shape()))));
  if (pooling_ == Pooling::class_token) {
    Tensor<T> token = add(Tensor<T>::zeros({B, 1, D}), class_token_);
    Mask padding;
    if (key_padding) {
      padding = Mask::from_shape({B, L + 1});
      for (std::size_t b = 0; b < B; ++b) {
        padding(b, 0) = 0;
        for (std::size_t l = 0; l < L; ++l) padding(b, l + 1) = (*key_padding)(b, l);
      }
    }
    Tensor<T> h = stack_->forward_embedded(concat(std::vector<Tensor<T>>{token, x}, 1), key_padding ? &padding : nullptr);
    return head_->forward(reshape(slice(h, 1, 0, 1), {B, D}));
  }
  Tensor<T> h = stack_->forward_embedded(x, key_padding);
  Array<T> weights = empty_array<T>({B, L, 1});
  for (std::size_t b = 0; b < B; ++b) {
    std::size_t count = 0;
    for (std::size_t l = 0; l < L; ++l) count += !(key_padding && (*key_padding)(b, l));
    if (count == 0) throw std::invalid_argument(fmt::format("PerformerClassifier: sequence {} is all padding", b));
    for (std::size_t l = 0; l < L; ++l) weights(b, l, 0) = (key_padding && (*key_padding)(b, l)) ? T(0) : T(1) / T(count);
  }
  return head_->forward(sum(h * Tensor<T>(std::move(weights)), 1));
}

template class PerformerClassifier<float>;
template class PerformerClassifier<double>;

}  // namespace pf
