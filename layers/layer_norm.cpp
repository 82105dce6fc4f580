#include "layers/layer_norm.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/layer_norm.hpp"

namespace pf {

template <class T>
LayerNorm<T>::LayerNorm(std::size_t dim, double eps) : dim_(dim), eps_(eps) {
  if (dim == 0 || !(eps > 0))
    throw std::invalid_argument(fmt::format("LayerNorm: needs dim > 0 and eps > 0 (dim {}, eps {})", dim, eps));
  weight_ = this->register_parameter("weight", Tensor<T>::ones({dim_}));
  bias_ = this->register_parameter("bias", Tensor<T>::zeros({dim_}));
}

template <class T>
Tensor<T> LayerNorm<T>::forward(const Tensor<T>& x) const {
  return layer_norm(x, weight_, bias_, eps_);
}

template class LayerNorm<float>;
template class LayerNorm<double>;

}  // namespace pf
