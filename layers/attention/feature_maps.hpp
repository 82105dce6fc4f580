// Random feature maps phi: R^d -> R^M, row-wise on x [..., L, d] (leading axes: batch, heads),
// each a fused op with a hand-derived backward. W [m, d] is a constant (never differentiated).
// Every map first applies the data normaliser x^ = x / d^{1/4}, so q^.k^ = q.k / sqrt(d).
// Notation: u = W x^ (m values per row), s = |x^|^2 / 2.
//
//   positive (FAVOR+):  phi = m^{-1/2} (exp(u - s - c) + eps)                         M = m
//   hyperbolic:         phi = (2m)^{-1/2} [exp(u - s - c) + eps, exp(-u - s - c) + eps]  M = 2m
//   trigonometric:      phi = m^{-1/2} exp(s) [sin u, cos u]                            M = 2m
//   generalized:        phi = m^{-1/2} f(u) + eps  (f = relu built in, or a user f, f')  M = m
//                       with no projection (W empty): phi = f(x^) + eps                 M = d
//
// Stabiliser c (positive and hyperbolic): Stabiliser::row_max (queries) takes c = max_j of the
// row's exponents' u part (max u, or max |u| for hyperbolic); slice_max (keys) takes one such max
// over each [L, m] slice; none takes c = 0 (the plain estimator). In attention c cancels between
// numerator and denominator, but these ops do not rely on that: the backward differentiates c
// too (c = u[j*] at the argmax, so dc/dx^ = W[j*] there), so each map's gradient is exact on its
// own and gradcheck can test it alone with the stabiliser on. The extra term costs O(d) per row.
// (Ties of the max are a measure-zero set; there c is only piecewise differentiable.)
// Derivation: docs/DERIVATIONS.md#feature-maps
// Tests: tests/layers/attention/test_feature_maps.cpp "feature maps: gradcheck with every
// stabiliser", "feature maps: fused backward equals autodiff through primitives".
#pragma once

#include <functional>
#include <string>

#include "engine/core/tensor.hpp"

namespace pf {

enum class Stabiliser { none, row_max, slice_max };

// A positive elementwise function for the generalized map, with its derivative.
struct FeatureFunction {
  std::string name;
  std::function<double(double)> f;
  std::function<double(double)> df;
  bool is_relu = false;  // fast path
  static FeatureFunction relu();
};

template <class T>
Tensor<T> positive_features(const Tensor<T>& x, const Tensor<T>& w, Stabiliser stabiliser, double eps);
template <class T>
Tensor<T> hyperbolic_features(const Tensor<T>& x, const Tensor<T>& w, Stabiliser stabiliser, double eps);
template <class T>
Tensor<T> trig_features(const Tensor<T>& x, const Tensor<T>& w);
// w with no elements selects the no-projection variant.
template <class T>
Tensor<T> generalized_features(const Tensor<T>& x, const Tensor<T>& w, const FeatureFunction& f, double eps);

}  // namespace pf
