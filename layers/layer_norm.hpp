// LayerNorm over the last axis with a learned scale and shift.
//
// x [..., D] -> (x - mean) / sqrt(var + eps) * weight + bias, per row of D. Parameters
// `weight` [D] (ones) and `bias` [D] (zeros), PyTorch's names.
#pragma once

#include <cstddef>

#include "layers/module.hpp"

namespace pf {

template <class T>
class LayerNorm : public Module<T> {
 public:
  explicit LayerNorm(std::size_t dim, double eps = 1e-5);

  Tensor<T> forward(const Tensor<T>& x) const;
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

  std::size_t dim() const { return dim_; }
  double eps() const { return eps_; }
  const Tensor<T>& weight() const { return weight_; }
  const Tensor<T>& bias() const { return bias_; }

 private:
  std::size_t dim_;
  double eps_;
  Tensor<T> weight_, bias_;
};

}  // namespace pf
