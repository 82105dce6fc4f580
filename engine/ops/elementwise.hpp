// Elementwise arithmetic with numpy broadcasting, scalar arithmetic, and elementwise functions.
// Shapes broadcast from the trailing axis: each pair of sizes must be equal or one of them 1
// (a missing leading axis counts as 1), so a bias [D] broadcasts over [B, L, D].
#pragma once

#include <type_traits>

#include "engine/core/tensor.hpp"

namespace pf {

template <class T> Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b);
template <class T> Tensor<T> neg(const Tensor<T>& a);

template <class T> Tensor<T> add_scalar(const Tensor<T>& a, T s);
template <class T> Tensor<T> mul_scalar(const Tensor<T>& a, T s);
// s / a
template <class T> Tensor<T> rdiv_scalar(T s, const Tensor<T>& a);
// a^p, elementwise (a > 0 unless p is a whole number)
template <class T> Tensor<T> pow_scalar(const Tensor<T>& a, T p);

// Elementwise functions.
template <class T> Tensor<T> exp(const Tensor<T>& a);
template <class T> Tensor<T> log(const Tensor<T>& a);
template <class T> Tensor<T> sqrt(const Tensor<T>& a);
template <class T> Tensor<T> tanh(const Tensor<T>& a);
template <class T> Tensor<T> sigmoid(const Tensor<T>& a);
template <class T> Tensor<T> relu(const Tensor<T>& a);
// Exact GELU, x * Phi(x) with the normal CDF Phi (as PyTorch's default).
template <class T> Tensor<T> gelu(const Tensor<T>& a);

// The broadcast shape of a and b; throws std::invalid_argument naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sum g (of shape `from`) down to `to`, where `to` broadcasts to `from` (reverse of broadcasting).
template <class T> Array<T> sum_to_shape(const Array<T>& g, const Shape& to);

// Scalars take the tensor's type (non-deduced), so `x * 0.5` works for Tensor<float>.
template <class T> using scalar_of = typename std::enable_if<true, T>::type;

template <class T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <class T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <class T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }
template <class T> Tensor<T> operator+(const Tensor<T>& a, scalar_of<T> s) { return add_scalar(a, s); }
template <class T> Tensor<T> operator+(scalar_of<T> s, const Tensor<T>& a) { return add_scalar(a, s); }
template <class T> Tensor<T> operator-(const Tensor<T>& a, scalar_of<T> s) { return add_scalar(a, -s); }
template <class T> Tensor<T> operator-(scalar_of<T> s, const Tensor<T>& a) { return add_scalar(neg(a), s); }
template <class T> Tensor<T> operator*(const Tensor<T>& a, scalar_of<T> s) { return mul_scalar(a, s); }
template <class T> Tensor<T> operator*(scalar_of<T> s, const Tensor<T>& a) { return mul_scalar(a, s); }
template <class T> Tensor<T> operator/(const Tensor<T>& a, scalar_of<T> s) { return mul_scalar(a, T(1) / s); }
template <class T> Tensor<T> operator/(scalar_of<T> s, const Tensor<T>& a) { return rdiv_scalar(s, a); }

}  // namespace pf
