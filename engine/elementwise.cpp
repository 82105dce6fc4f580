#include "engine/elementwise.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/broadcast.hpp"

namespace pf {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::size_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(fmt::format("{}: shapes {} and {} cannot be broadcast (axis {}: {} vs {})",
                                              op, shape_str(a), shape_str(b), i, da, db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

using detail::broadcast_strides;
using detail::for_each_broadcast;

// out = f(a, b) with broadcasting; returns out.
template <class T, class F>
Array<T> broadcast_apply(const Array<T>& a, const Array<T>& b, const Shape& out_shape, F f) {
  Array<T> out = empty_array<T>(out_shape);
  const Shape sa = to_shape(a.shape()), sb = to_shape(b.shape());
  T* o = out.data();
  const T* pa = a.data();
  const T* pb = b.data();
  if (sa == out_shape && sb == out_shape) {
    for (std::size_t i = 0, n = out.size(); i < n; ++i) o[i] = f(pa[i], pb[i]);
    return out;
  }
  for_each_broadcast(out_shape, broadcast_strides(sa, out_shape), broadcast_strides(sb, out_shape),
                     [&](std::size_t i, std::size_t ia, std::size_t ib) { o[i] = f(pa[ia], pb[ib]); });
  return out;
}

}  // namespace

template <class T>
Array<T> sum_to_shape(const Array<T>& g, const Shape& to) {
  const Shape from = to_shape(g.shape());
  if (from == to) return g;
  Array<T> out = filled_array<T>(to, T(0));
  const std::vector<std::size_t> zero(from.size(), 0);
  T* o = out.data();
  const T* pg = g.data();
  for_each_broadcast(from, zero, broadcast_strides(to, from),
                     [&](std::size_t i, std::size_t, std::size_t it) { o[it] += pg[i]; });
  return out;
}

// A binary op: value = f(a, b); backward gets (g, a, b, out) broadcast to out's shape per
// element and returns the pair of local products (da_i, db_i), which are summed back to the
// input shapes.
template <class T, class F, class DF>
Tensor<T> binary_op(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f, DF df) {
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Array<T> value = broadcast_apply(a.value(), b.value(), out_shape, f);
  if (!needs_grad<T>({&a, &b})) return Tensor<T>(std::move(value));
  auto na = a.node(), nb = b.node();
  auto backward = [na, nb, out_shape, df](const Array<T>& g, const Array<T>&) {
    const Shape sa = to_shape(na->value.shape()), sb = to_shape(nb->value.shape());
    Array<T> ga, gb;
    if (na->requires_grad) ga = empty_array<T>(out_shape);
    if (nb->requires_grad) gb = empty_array<T>(out_shape);
    const T* pa = na->value.data();
    const T* pb = nb->value.data();
    const T* pg = g.data();
    for_each_broadcast(out_shape, broadcast_strides(sa, out_shape), broadcast_strides(sb, out_shape),
                       [&](std::size_t i, std::size_t ia, std::size_t ib) {
                         const auto [da, db] = df(pg[i], pa[ia], pb[ib]);
                         if (na->requires_grad) ga.data()[i] = da;
                         if (nb->requires_grad) gb.data()[i] = db;
                       });
    if (na->requires_grad) na->accumulate(sum_to_shape(ga, sa));
    if (nb->requires_grad) nb->accumulate(sum_to_shape(gb, sb));
  };
  return make_result<T>(std::move(value), op, {a, b}, backward);
}

// c = a + b;  da = g, db = g (each summed over its broadcast axes)
template <class T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  return binary_op(
      a, b, "add", [](T x, T y) { return x + y; },
      [](T g, T, T) { return std::pair<T, T>(g, g); });
}

// c = a - b;  da = g, db = -g
template <class T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  return binary_op(
      a, b, "sub", [](T x, T y) { return x - y; },
      [](T g, T, T) { return std::pair<T, T>(g, -g); });
}

// c = a * b;  da = g b, db = g a
template <class T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  return binary_op(
      a, b, "mul", [](T x, T y) { return x * y; },
      [](T g, T x, T y) { return std::pair<T, T>(g * y, g * x); });
}

// c = a / b;  da = g / b, db = -g a / b^2
template <class T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  return binary_op(
      a, b, "div", [](T x, T y) { return x / y; },
      [](T g, T x, T y) { return std::pair<T, T>(g / y, -g * x / (y * y)); });
}

// A unary elementwise op: value = f(x); backward da = g * df(x, y) with y = f(x).
template <class T, class F, class DF>
Tensor<T> unary_op(const Tensor<T>& a, const char* op, F f, DF df) {
  Array<T> value = empty_array<T>(a.shape());
  const T* x = a.data();
  T* y = value.data();
  for (std::size_t i = 0, n = value.size(); i < n; ++i) y[i] = f(x[i]);
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(value));
  auto na = a.node();
  return make_result<T>(std::move(value), op, {a}, [na, df](const Array<T>& g, const Array<T>& out) {
    Array<T>& ga = na->grad_buffer();
    const T* px = na->value.data();
    const T* py = out.data();
    const T* pg = g.data();
    T* pd = ga.data();
    for (std::size_t i = 0, n = g.size(); i < n; ++i) pd[i] += pg[i] * df(px[i], py[i]);
  });
}

// y = -x;  dx = -g
template <class T>
Tensor<T> neg(const Tensor<T>& a) {
  return unary_op(a, "neg", [](T x) { return -x; }, [](T, T) { return T(-1); });
}

// y = x + s;  dx = g
template <class T>
Tensor<T> add_scalar(const Tensor<T>& a, T s) {
  return unary_op(a, "add_scalar", [s](T x) { return x + s; }, [](T, T) { return T(1); });
}

// y = s x;  dx = s g
template <class T>
Tensor<T> mul_scalar(const Tensor<T>& a, T s) {
  return unary_op(a, "mul_scalar", [s](T x) { return x * s; }, [s](T, T) { return s; });
}

// y = s / x;  dx = -g s / x^2 = -g y / x
template <class T>
Tensor<T> rdiv_scalar(T s, const Tensor<T>& a) {
  return unary_op(a, "rdiv_scalar", [s](T x) { return s / x; }, [](T x, T y) { return -y / x; });
}

// y = x^p;  dx = g p x^(p-1)
template <class T>
Tensor<T> pow_scalar(const Tensor<T>& a, T p) {
  return unary_op(
      a, "pow_scalar", [p](T x) { return std::pow(x, p); },
      [p](T x, T) { return p * std::pow(x, p - T(1)); });
}

// y = e^x;  dx = g y
template <class T>
Tensor<T> exp(const Tensor<T>& a) {
  return unary_op(a, "exp", [](T x) { return std::exp(x); }, [](T, T y) { return y; });
}

// y = ln x;  dx = g / x
template <class T>
Tensor<T> log(const Tensor<T>& a) {
  return unary_op(a, "log", [](T x) { return std::log(x); }, [](T x, T) { return T(1) / x; });
}

// y = sqrt x;  dx = g / (2 y)
template <class T>
Tensor<T> sqrt(const Tensor<T>& a) {
  return unary_op(a, "sqrt", [](T x) { return std::sqrt(x); }, [](T, T y) { return T(0.5) / y; });
}

// y = tanh x;  dx = g (1 - y^2)
template <class T>
Tensor<T> tanh(const Tensor<T>& a) {
  return unary_op(a, "tanh", [](T x) { return std::tanh(x); }, [](T, T y) { return T(1) - y * y; });
}

// y = 1 / (1 + e^-x);  dx = g y (1 - y)
template <class T>
Tensor<T> sigmoid(const Tensor<T>& a) {
  return unary_op(
      a, "sigmoid",
      [](T x) {  // two branches keep e^{|x|} from overflowing
        if (x >= 0) return T(1) / (T(1) + std::exp(-x));
        const T e = std::exp(x);
        return e / (T(1) + e);
      },
      [](T, T y) { return y * (T(1) - y); });
}

// y = max(x, 0);  dx = g [x > 0]
template <class T>
Tensor<T> relu(const Tensor<T>& a) {
  return unary_op(a, "relu", [](T x) { return x > 0 ? x : T(0); }, [](T x, T) { return x > 0 ? T(1) : T(0); });
}

// y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  dx = g (Phi(x) + x phi(x)),
// phi(x) = e^{-x^2/2} / sqrt(2 pi)
template <class T>
Tensor<T> gelu(const Tensor<T>& a) {
  return unary_op(
      a, "gelu", [](T x) { return x * T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2))); },
      [](T x, T) {
        const T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
        const T pdf = std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
        return cdf + x * pdf;
      });
}

#define PF_INSTANTIATE(T)                                                  \
  template Tensor<T> add<T>(const Tensor<T>&, const Tensor<T>&);           \
  template Tensor<T> sub<T>(const Tensor<T>&, const Tensor<T>&);           \
  template Tensor<T> mul<T>(const Tensor<T>&, const Tensor<T>&);           \
  template Tensor<T> div<T>(const Tensor<T>&, const Tensor<T>&);           \
  template Tensor<T> neg<T>(const Tensor<T>&);                             \
  template Tensor<T> add_scalar<T>(const Tensor<T>&, T);                   \
  template Tensor<T> mul_scalar<T>(const Tensor<T>&, T);                   \
  template Tensor<T> rdiv_scalar<T>(T, const Tensor<T>&);                  \
  template Tensor<T> pow_scalar<T>(const Tensor<T>&, T);                   \
  template Tensor<T> exp<T>(const Tensor<T>&);                             \
  template Tensor<T> log<T>(const Tensor<T>&);                             \
  template Tensor<T> sqrt<T>(const Tensor<T>&);                            \
  template Tensor<T> tanh<T>(const Tensor<T>&);                            \
  template Tensor<T> sigmoid<T>(const Tensor<T>&);                         \
  template Tensor<T> relu<T>(const Tensor<T>&);                            \
  template Tensor<T> gelu<T>(const Tensor<T>&);                            \
  template Array<T> sum_to_shape<T>(const Array<T>&, const Shape&);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
