#include "layers/dropout.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/dropout.hpp"

namespace pf {

template <class T>
Dropout<T>::Dropout(double p, std::uint64_t seed) : p_(p), rng_(seed) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1), got {}", p));
}

template <class T>
Tensor<T> Dropout<T>::forward(const Tensor<T>& x) {
  return dropout(x, p_, rng_, this->is_training());
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace pf
