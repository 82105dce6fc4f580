#include "layers/embedding.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/embedding.hpp"

namespace pf {

template <class T>
Embedding<T>::Embedding(std::size_t vocab_size, std::size_t dim, Rng& rng) : vocab_(vocab_size), dim_(dim) {
  if (vocab_size == 0 || dim == 0)
    throw std::invalid_argument(fmt::format("Embedding: sizes must be positive (V {}, D {})", vocab_size, dim));
  weight_ = this->register_parameter("weight", randn<T>({vocab_, dim_}, rng));
}

template <class T>
Tensor<T> Embedding<T>::forward(const Indices& ids) const {
  return embedding(weight_, ids);
}

template class Embedding<float>;
template class Embedding<double>;

}  // namespace pf
