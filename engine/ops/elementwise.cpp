#include "engine/ops/elementwise.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/ops/broadcast.hpp"
#include "engine/kernels/gelu.hpp"
#include "engine/kernels/simd.hpp"

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
    parallel_ranges(out.size(), detail::kParallelGrain, [&](std::size_t s, std::size_t e) {
      for (std::size_t i = s; i < e; ++i) o[i] = f(pa[i], pb[i]);
    });
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
  T* o = out.data();
  const T* pg = g.data();
  // Fast path: `to` is a trailing block of `from` (a bias over leading axes): add up the rows.
  std::size_t lead = 0;
  while (lead < to.size() && to[lead] == 1) ++lead;
  const Shape core(to.begin() + lead, to.end());
  if (core.size() <= from.size() && std::equal(core.begin(), core.end(), from.end() - core.size())) {
    const std::size_t width = shape_numel(core), rows = width ? g.size() / width : 0;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < width; ++j) o[j] += pg[r * width + j];
    return out;
  }
  const std::vector<std::size_t> zero(from.size(), 0);
  for_each_broadcast(from, zero, broadcast_strides(to, from),
                     [&](std::size_t i, std::size_t, std::size_t it) { o[it] += pg[i]; });
  return out;
}

// The input of a binary op receives g_local (an out-shaped per-element product), summed over
// its broadcast axes; an input of the output's shape accumulates in place, without a temporary.
template <class T>
struct GradSink {
  Node<T>* node;
  bool full;      // input shape == output shape
  Array<T> temp;  // out-shaped scratch for a broadcast input
  T* target() { return full ? node->grad_buffer().data() : temp.data(); }
};

// A binary op: value = f(a, b); backward gets (g, a, b) per output element and returns the
// local products (da_i, db_i), which are summed back to the input shapes.
template <class T, class F, class DF>
Tensor<T> binary_op(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f, DF df) {
  const OpTimer timer(op);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  Array<T> value = broadcast_apply(a.value(), b.value(), out_shape, f);
  if (!needs_grad<T>({&a, &b})) return Tensor<T>(std::move(value));
  auto na = a.node(), nb = b.node();
  auto backward = [na, nb, out_shape, df](const Array<T>& g, const Array<T>&) {
    const Shape sa = to_shape(na->value.shape()), sb = to_shape(nb->value.shape());
    auto sink = [&](Node<T>* n, const Shape& s) {
      GradSink<T> k{n, s == out_shape, {}};
      if (n->requires_grad && !k.full) k.temp = filled_array<T>(out_shape, T(0));
      return k;
    };
    GradSink<T> ka = sink(na.get(), sa), kb = sink(nb.get(), sb);
    T* da = na->requires_grad ? ka.target() : nullptr;
    T* db = nb->requires_grad ? kb.target() : nullptr;
    const T* pa = na->value.data();
    const T* pb = nb->value.data();
    const T* pg = g.data();
    auto local = [&](std::size_t i, std::size_t ia, std::size_t ib) {
      const auto [ga, gb] = df(pg[i], pa[ia], pb[ib]);
      if (da) da[i] += ga;
      if (db) db[i] += gb;
    };
    if (sa == out_shape && sb == out_shape)
      parallel_ranges(g.size(), detail::kParallelGrain, [&](std::size_t s, std::size_t e) {
        for (std::size_t i = s; i < e; ++i) local(i, i, i);
      });
    else
      detail::for_each_broadcast(out_shape, detail::broadcast_strides(sa, out_shape),
                                 detail::broadcast_strides(sb, out_shape), local);
    if (da && !ka.full) na->accumulate(sum_to_shape(ka.temp, sa));
    if (db && !kb.full) nb->accumulate(sum_to_shape(kb.temp, sb));
  };
  return make_result<T>(std::move(value), op, {a, b}, backward);
}

// g (or -g) summed down to the shape of n's value, added to n's gradient.
template <class T>
void accumulate_reduced(Node<T>& n, const Array<T>& g, T sign) {
  if (!n.requires_grad) return;
  const Shape s = to_shape(n.value.shape());
  if (s != to_shape(g.shape())) {
    Array<T> r = sum_to_shape(g, s);
    if (sign < 0) for (T& x : r) x = -x;
    n.accumulate(r);
    return;
  }
  T* d = n.grad_buffer().data();
  const T* pg = g.data();
  parallel_ranges(g.size(), detail::kParallelGrain, [&](std::size_t s, std::size_t e) {
    for (std::size_t i = s; i < e; ++i) d[i] += sign * pg[i];
  });
}

// c = a + b;  da = g, db = g (each summed over its broadcast axes)
template <class T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  const OpTimer timer("add");
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), "add");
  Array<T> value = broadcast_apply(a.value(), b.value(), out_shape, [](T x, T y) { return x + y; });
  auto na = a.node(), nb = b.node();
  return make_result<T>(std::move(value), "add", {a, b}, [na, nb](const Array<T>& g, const Array<T>&) {
    accumulate_reduced(*na, g, T(1));
    accumulate_reduced(*nb, g, T(1));
  });
}

// c = a - b;  da = g, db = -g
template <class T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  const OpTimer timer("sub");
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), "sub");
  Array<T> value = broadcast_apply(a.value(), b.value(), out_shape, [](T x, T y) { return x - y; });
  auto na = a.node(), nb = b.node();
  return make_result<T>(std::move(value), "sub", {a, b}, [na, nb](const Array<T>& g, const Array<T>&) {
    accumulate_reduced(*na, g, T(1));
    accumulate_reduced(*nb, g, T(-1));
  });
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

// A unary elementwise op: value = f(x); backward dx += g * df(x, y) with y = f(x).
// f and df are generic lambdas over xsimd batches (see engine/kernels/simd.hpp).
template <class T, class F, class DF>
Tensor<T> unary_op(const Tensor<T>& a, const char* op, F f, DF df) {
  const OpTimer timer(op);
  Array<T> value = empty_array<T>(a.shape());
  detail::simd_map(a.data(), value.data(), value.size(), f);
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(value));
  auto na = a.node();
  return make_result<T>(std::move(value), op, {a}, [na, df](const Array<T>& g, const Array<T>& out) {
    detail::simd_accumulate3(g.data(), na->value.data(), out.data(), na->grad_buffer().data(), g.size(),
                             [df](auto gb, auto xb, auto yb) { return gb * df(xb, yb); });
  });
}

template <class T>
using B = detail::Batch<T>;

// y = -x;  dx = -g
template <class T>
Tensor<T> neg(const Tensor<T>& a) {
  return unary_op(a, "neg", [](B<T> x) { return -x; }, [](B<T>, B<T>) { return B<T>(T(-1)); });
}

// y = x + s;  dx = g
template <class T>
Tensor<T> add_scalar(const Tensor<T>& a, T s) {
  return unary_op(a, "add_scalar", [s](B<T> x) { return x + s; }, [](B<T>, B<T>) { return B<T>(T(1)); });
}

// y = s x;  dx = s g
template <class T>
Tensor<T> mul_scalar(const Tensor<T>& a, T s) {
  return unary_op(a, "mul_scalar", [s](B<T> x) { return x * s; }, [s](B<T>, B<T>) { return B<T>(s); });
}

// y = s / x;  dx = -g s / x^2 = -g y / x
template <class T>
Tensor<T> rdiv_scalar(T s, const Tensor<T>& a) {
  return unary_op(a, "rdiv_scalar", [s](B<T> x) { return B<T>(s) / x; }, [](B<T> x, B<T> y) { return -y / x; });
}

// y = x^p;  dx = g p x^(p-1)
template <class T>
Tensor<T> pow_scalar(const Tensor<T>& a, T p) {
  return unary_op(
      a, "pow_scalar", [p](B<T> x) { return xsimd::pow(x, B<T>(p)); },
      [p](B<T> x, B<T>) { return p * xsimd::pow(x, B<T>(p - T(1))); });
}

// y = e^x;  dx = g y
template <class T>
Tensor<T> exp(const Tensor<T>& a) {
  return unary_op(a, "exp", [](B<T> x) { return xsimd::exp(x); }, [](B<T>, B<T> y) { return y; });
}

// y = ln x;  dx = g / x
template <class T>
Tensor<T> log(const Tensor<T>& a) {
  return unary_op(a, "log", [](B<T> x) { return xsimd::log(x); }, [](B<T> x, B<T>) { return B<T>(T(1)) / x; });
}

// y = sqrt x;  dx = g / (2 y)
template <class T>
Tensor<T> sqrt(const Tensor<T>& a) {
  return unary_op(a, "sqrt", [](B<T> x) { return xsimd::sqrt(x); }, [](B<T>, B<T> y) { return B<T>(T(0.5)) / y; });
}

// y = tanh x;  dx = g (1 - y^2)
template <class T>
Tensor<T> tanh(const Tensor<T>& a) {
  return unary_op(a, "tanh", [](B<T> x) { return xsimd::tanh(x); }, [](B<T>, B<T> y) { return T(1) - y * y; });
}

// y = 1 / (1 + e^-x);  dx = g y (1 - y).  For x << 0, e^-x overflows to inf and y = 0 exactly.
template <class T>
Tensor<T> sigmoid(const Tensor<T>& a) {
  return unary_op(
      a, "sigmoid", [](B<T> x) { return B<T>(T(1)) / (T(1) + xsimd::exp(-x)); },
      [](B<T>, B<T> y) { return y * (T(1) - y); });
}

// y = max(x, 0);  dx = g [x > 0]
template <class T>
Tensor<T> relu(const Tensor<T>& a) {
  return unary_op(
      a, "relu", [](B<T> x) { return xsimd::max(x, B<T>(T(0))); },
      [](B<T> x, B<T>) { return xsimd::select(x > B<T>(T(0)), B<T>(T(1)), B<T>(T(0))); });
}

// y = gelu(x) = x Phi(x);  dx = g gelu'(x)  (the formulas: engine/kernels/gelu.hpp)
template <class T>
Tensor<T> gelu(const Tensor<T>& a) {
  return unary_op(
      a, "gelu", [](B<T> x) { return detail::gelu<T>(x); }, [](B<T> x, B<T>) { return detail::gelu_slope<T>(x); });
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
