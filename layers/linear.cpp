#include "layers/linear.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/affine.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {

template <class T>
Linear<T>::Linear(std::size_t in_features, std::size_t out_features, Rng& rng, bool bias)
    : in_(in_features), out_(out_features), has_bias_(bias) {
  if (in_features == 0 || out_features == 0)
    throw std::invalid_argument(
        fmt::format("Linear: sizes must be positive (in {}, out {})", in_features, out_features));
  const T bound = T(1) / std::sqrt(static_cast<T>(in_features));
  weight_ = this->register_parameter("weight", rand_uniform<T>({out_, in_}, rng, -bound, bound));
  if (has_bias_) bias_ = this->register_parameter("bias", rand_uniform<T>({out_}, rng, -bound, bound));
}

// y = x W^T + b as one fused node (engine/ops/affine.hpp): the tape keeps only y.
template <class T>
Tensor<T> Linear<T>::forward(const Tensor<T>& x) const {
  if (x.dim() < 1 || x.size(-1) != in_)
    throw std::invalid_argument(
        fmt::format("Linear: input shape {} does not end in in_features {}", shape_str(x.shape()), in_));
  // A single vector [in] goes through as one row [1, in] (matmul needs two axes).
  if (x.dim() == 1) return reshape(forward(reshape(x, {1, in_})), {out_});
  return affine(x, weight_, has_bias_ ? &bias_ : nullptr);
}

template class Linear<float>;
template class Linear<double>;

}  // namespace pf
