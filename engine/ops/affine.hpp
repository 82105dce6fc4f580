// Fused affine maps: y = x W^T + b as one tape node.
//
// Why: built from matmul and add, a Linear keeps two activations alive until backward (the
// product and the biased sum), and neither is needed by any backward. One node keeps only its
// output, so a training step holds half the activation memory of its Linear layers.
// Derivation: docs/DERIVATIONS.md#affine-and-gelu
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// x [..., in], w [out, in], bias [out] or nullptr -> [..., out].
// dx = g W, dW = g^T x, db = sum of g over the rows.
template <class T>
Tensor<T> affine(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* bias);

// affine(gelu(u), w, bias) without keeping gelu(u): the backward recomputes it from u (one
// elementwise pass), so a feed-forward layer keeps one hidden-width activation instead of two.
template <class T>
Tensor<T> gelu_affine(const Tensor<T>& u, const Tensor<T>& w, const Tensor<T>* bias);

// permute_as(affine(x, w, bias), view, axes, shape) as one node (attention's projections
// straight into the [B, H, L, d] head layout): the unpermuted product is not kept.
template <class T>
Tensor<T> affine_permuted(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* bias, const Shape& view,
                          const std::vector<std::size_t>& axes, const Shape& shape);

// Without a bias.
template <class T>
Tensor<T> affine(const Tensor<T>& x, const Tensor<T>& w) {
  return affine(x, w, static_cast<const Tensor<T>*>(nullptr));
}
template <class T>
Tensor<T> gelu_affine(const Tensor<T>& u, const Tensor<T>& w) {
  return gelu_affine(u, w, static_cast<const Tensor<T>*>(nullptr));
}

}  // namespace pf
