// MLP: a stack of Linear layers with an activation between them (none after the last).
//
// sizes {in, h1, ..., out}: x [..., in] -> [..., out]. Parameters are named
// `layers.<i>.weight` / `layers.<i>.bias`, i = 0 .. sizes.size() - 2.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/random.hpp"
#include "layers/linear.hpp"
#include "layers/module.hpp"

namespace pf {

enum class Activation { gelu, relu, tanh };

// "gelu" / "relu" / "tanh"; parse_activation throws std::invalid_argument on other names.
std::string activation_name(Activation a);
Activation parse_activation(const std::string& name);
// The activation as a function on tensors.
template <class T>
Tensor<T> activate(const Tensor<T>& x, Activation a);

template <class T>
class MLP : public Module<T> {
 public:
  MLP(const std::vector<std::size_t>& sizes, Activation activation, Rng& rng);

  Tensor<T> forward(const Tensor<T>& x) const;
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

  const ModuleList<T, Linear<T>>& layers() const { return *layers_; }
  Activation activation() const { return activation_; }

 private:
  Activation activation_;
  std::shared_ptr<ModuleList<T, Linear<T>>> layers_;
};

}  // namespace pf
