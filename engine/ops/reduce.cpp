#include "engine/ops/reduce.hpp"

#include <algorithm>
#include <vector>

#include "engine/core/profiler.hpp"
#include "engine/kernels/row_math.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {
namespace {

// A tensor seen as [outer, n, inner] around one axis.
struct AxisView {
  std::size_t outer = 1, n = 1, inner = 1;
};

AxisView axis_view(const Shape& shape, std::size_t axis) {
  AxisView v;
  for (std::size_t k = 0; k < axis; ++k) v.outer *= shape[k];
  v.n = shape[axis];
  for (std::size_t k = axis + 1; k < shape.size(); ++k) v.inner *= shape[k];
  return v;
}

// y = scale * sum(a);  da = scale * g everywhere
template <class T>
Tensor<T> scaled_total(const Tensor<T>& a, double scale, const char* op) {
  const OpTimer timer(op);
  // A double accumulator: a float sum over ~1e6 activations would lose ~3 digits.
  double total = 0;
  const T* x = a.data();
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) total += x[i];
  Array<T> out = filled_array<T>({}, static_cast<T>(total * scale));
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), op, {a}, [na, scale](const Array<T>& g, const Array<T>&) {
    Array<T>& ga = na->grad_buffer();
    const T d = static_cast<T>(g.data()[0] * scale);
    T* p = ga.data();
    for (std::size_t i = 0, n = ga.size(); i < n; ++i) p[i] += d;
  });
}

// y[o, i] = scale * sum_k a[o, k, i];  da[o, k, i] = scale * g[o, i]
template <class T>
Tensor<T> scaled_axis_sum(const Tensor<T>& a, int axis, bool keepdim, bool mean, const char* op) {
  const OpTimer timer(op);
  Shape shape = a.shape();
  const std::size_t ax = normalize_axis(axis, shape, op);
  const AxisView v = axis_view(shape, ax);
  const T scale = mean ? T(1) / static_cast<T>(v.n) : T(1);
  if (keepdim) shape[ax] = 1;
  else shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(ax));
  Array<T> out = empty_array<T>(shape);
  const T* x = a.data();
  T* y = out.data();
  if (v.inner == 1) {  // reducing the last (contiguous) axis: one dot-like loop per row
    for (std::size_t o = 0; o < v.outer; ++o) {
      y[o] = detail::row_sum(x + o * v.n, v.n) * scale;
    }
  } else {  // add whole contiguous [inner] rows into the output row
    std::fill(out.begin(), out.end(), T(0));
    for (std::size_t o = 0; o < v.outer; ++o) {
      T* dst = y + o * v.inner;
      for (std::size_t k = 0; k < v.n; ++k) {
        const T* src = x + (o * v.n + k) * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) dst[i] += src[i];
      }
      if (mean)
        for (std::size_t i = 0; i < v.inner; ++i) dst[i] *= scale;
    }
  }
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), op, {a}, [na, v, scale](const Array<T>& g, const Array<T>&) {
    T* ga = na->grad_buffer().data();
    const T* pg = g.data();
    if (v.inner == 1) {  // one value spread over a contiguous row
      for (std::size_t o = 0; o < v.outer; ++o) {
        const T d = scale * pg[o];
        T* dst = ga + o * v.n;
        for (std::size_t k = 0; k < v.n; ++k) dst[k] += d;
      }
      return;
    }
    for (std::size_t o = 0; o < v.outer; ++o) {
      const T* src = pg + o * v.inner;
      for (std::size_t k = 0; k < v.n; ++k) {
        T* dst = ga + (o * v.n + k) * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) dst[i] += scale * src[i];
      }
    }
  });
}

}  // namespace

template <class T>
Tensor<T> sum(const Tensor<T>& a) {
  return scaled_total(a, 1.0, "sum");
}

template <class T>
Tensor<T> sum(const Tensor<T>& a, int axis, bool keepdim) {
  return scaled_axis_sum(a, axis, keepdim, false, "sum");
}

// y = sum(a) / numel;  da = g / numel (a mean of nothing is NaN, as 0/0)
template <class T>
Tensor<T> mean(const Tensor<T>& a) {
  return scaled_total(a, 1.0 / static_cast<double>(a.numel()), "mean");
}

// y = sum(a, axis) / n;  da = g / n broadcast back over the axis
template <class T>
Tensor<T> mean(const Tensor<T>& a, int axis, bool keepdim) {
  return scaled_axis_sum(a, axis, keepdim, true, "mean");
}

// y[o, k, i] = sum_{j<=k} a[o, j, i];  da[o, j, i] = sum_{k>=j} g[o, k, i] (a reverse prefix sum)
template <class T>
Tensor<T> cumsum(const Tensor<T>& a, int axis) {
  const OpTimer timer("cumsum");
  const Shape shape = a.shape();
  const AxisView v = axis_view(shape, normalize_axis(axis, shape, "cumsum"));
  Array<T> out = empty_array<T>(shape);
  const T* x = a.data();
  T* y = out.data();
  for (std::size_t o = 0; o < v.outer; ++o) {
    const std::size_t base = o * v.n * v.inner;
    if (v.n > 0) std::copy(x + base, x + base + v.inner, y + base);
    for (std::size_t k = 1; k < v.n; ++k) {
      const T* prev = y + base + (k - 1) * v.inner;
      const T* src = x + base + k * v.inner;
      T* dst = y + base + k * v.inner;
      for (std::size_t i = 0; i < v.inner; ++i) dst[i] = prev[i] + src[i];
    }
  }
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), "cumsum", {a}, [na, v](const Array<T>& g, const Array<T>&) {
    T* ga = na->grad_buffer().data();
    const T* pg = g.data();
    std::vector<T> running(v.inner);
    for (std::size_t o = 0; o < v.outer; ++o) {
      std::fill(running.begin(), running.end(), T(0));
      for (std::size_t k = v.n; k-- > 0;) {
        const std::size_t at = (o * v.n + k) * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) {
          running[i] += pg[at + i];
          ga[at + i] += running[i];
        }
      }
    }
  });
}

#define PF_INSTANTIATE(T)                                       \
  template Tensor<T> sum<T>(const Tensor<T>&);                  \
  template Tensor<T> sum<T>(const Tensor<T>&, int, bool);       \
  template Tensor<T> mean<T>(const Tensor<T>&);                 \
  template Tensor<T> mean<T>(const Tensor<T>&, int, bool);      \
  template Tensor<T> cumsum<T>(const Tensor<T>&, int);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
