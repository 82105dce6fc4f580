// Layer normalisation over the last axis, fused.
// Derivation: docs/DERIVATIONS.md#layer-norm
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// x [..., D], gamma [D], beta [D]:
//   y = (x - mean) / sqrt(var + eps) * gamma + beta, mean and (biased) var per row of D.
template <class T>
Tensor<T> layer_norm(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta, double eps = 1e-5);

}  // namespace pf
