#include "layers/mlp.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/affine.hpp"
#include "engine/ops/elementwise.hpp"

namespace pf {

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::gelu: return "gelu";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
  }
  return "?";
}

Activation parse_activation(const std::string& name) {
  for (Activation a : {Activation::gelu, Activation::relu, Activation::tanh})
    if (activation_name(a) == name) return a;
  throw std::invalid_argument(fmt::format("parse_activation: unknown activation '{}' (gelu, relu, tanh)", name));
}

template <class T>
Tensor<T> activate(const Tensor<T>& x, Activation a) {
  switch (a) {
    case Activation::gelu: return gelu(x);
    case Activation::relu: return relu(x);
    case Activation::tanh: return tanh(x);
  }
  throw std::invalid_argument("activate: unknown activation");
}

template <class T>
MLP<T>::MLP(const std::vector<std::size_t>& sizes, Activation activation, Rng& rng)
    : activation_(activation) {
  if (sizes.size() < 2)
    throw std::invalid_argument(
        fmt::format("MLP: sizes must list at least input and output widths, got {}", shape_str(sizes)));
  layers_ = this->register_module("layers", std::make_shared<ModuleList<T, Linear<T>>>());
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i)
    layers_->push_back(std::make_shared<Linear<T>>(sizes[i], sizes[i + 1], rng));
}

template <class T>
Tensor<T> MLP<T>::forward(const Tensor<T>& x) const {
  // After a GELU, the next layer takes the pre-activation and recomputes GELU in its backward
  // (gelu_affine), so the tape holds one hidden-width activation per hidden layer, not two.
  const bool fuse = activation_ == Activation::gelu;
  Tensor<T> h = (*layers_)[0](x);
  for (std::size_t i = 1; i < layers_->size(); ++i) {
    const Linear<T>& layer = (*layers_)[i];
    if (fuse) {
      if (h.size(-1) != layer.in_features())  // as Linear::forward would report it
        throw std::invalid_argument(fmt::format("Linear: input shape {} does not end in in_features {}",
                                                shape_str(h.shape()), layer.in_features()));
      h = gelu_affine(h, layer.weight(), layer.has_bias() ? &layer.bias() : nullptr);
    } else {
      h = layer(activate(h, activation_));
    }
  }
  return h;
}

template Tensor<float> activate<float>(const Tensor<float>&, Activation);
template Tensor<double> activate<double>(const Tensor<double>&, Activation);
template class MLP<float>;
template class MLP<double>;

}  // namespace pf
