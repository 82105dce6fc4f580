// Linear: y = x W^T + b.
//
// x [..., in] -> y [..., out] (also a single vector [in] -> [out]). The weight is stored [out, in] (PyTorch's layout, so saved files
// load there unchanged) and multiplied transposed: one GEMM over all leading axes.
// Initialisation as PyTorch: W, b ~ U(-1/sqrt(in), 1/sqrt(in)).
#pragma once

#include <cstddef>

#include "engine/core/random.hpp"
#include "layers/module.hpp"

namespace pf {

template <class T>
class Linear : public Module<T> {
 public:
  Linear(std::size_t in_features, std::size_t out_features, Rng& rng, bool bias = true);

  Tensor<T> forward(const Tensor<T>& x) const;
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

  std::size_t in_features() const { return in_; }
  std::size_t out_features() const { return out_; }
  bool has_bias() const { return has_bias_; }
  const Tensor<T>& weight() const { return weight_; }  // [out, in]
  const Tensor<T>& bias() const { return bias_; }      // [out] (empty when !has_bias())

 private:
  std::size_t in_, out_;
  bool has_bias_;
  Tensor<T> weight_, bias_;
};

}  // namespace pf
