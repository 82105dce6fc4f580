// Embedding: a trainable table of V rows of width D, looked up by integer ids.
//
// ids (any shape, values in [0, V)) -> ids.shape + [D]. The parameter is `weight` [V, D]
// (PyTorch's name and layout), initialised N(0, 1) as PyTorch does.
#pragma once

#include <cstddef>

#include "engine/core/random.hpp"
#include "layers/module.hpp"

namespace pf {

template <class T>
class Embedding : public Module<T> {
 public:
  Embedding(std::size_t vocab_size, std::size_t dim, Rng& rng);

  Tensor<T> forward(const Indices& ids) const;
  Tensor<T> operator()(const Indices& ids) const { return forward(ids); }

  std::size_t vocab_size() const { return vocab_; }
  std::size_t dim() const { return dim_; }
  const Tensor<T>& weight() const { return weight_; }  // [V, D]

 private:
  std::size_t vocab_, dim_;
  Tensor<T> weight_;
};

}  // namespace pf
