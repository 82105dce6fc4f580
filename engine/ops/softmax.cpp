#include "engine/ops/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/row_math.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {
namespace {

// rows x C view of a tensor whose last axis is C.
struct Rows {
  std::size_t count = 0, width = 0;
};

Rows last_axis_rows(const Shape& shape, const char* op) {
  if (shape.empty())
    throw std::invalid_argument(fmt::format("{}: needs at least one axis, got shape []", op));
  Rows r;
  r.width = shape.back();
  r.count = shape_numel(Shape(shape.begin(), shape.end() - 1));  // rows may be empty (C = 0)
  return r;
}

// y_r = f(x_r) for every row r along the last axis (f(x, y) writes rows.width values of y),
// rows in parallel.
template <class T, class F>
Array<T> map_rows(const Tensor<T>& a, const Rows& rows, F f) {
  Array<T> out = empty_array<T>(a.shape());
  parallel_ranges(rows.count, rows_per_task(rows.width), [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) f(a.data() + r * rows.width, out.data() + r * rows.width);
  });
  return out;
}

// y = exp(x - m) for one row; returns sum(y). With m = max(x) every exp is <= 1.
template <class T>
T shifted_exp(const T* x, T m, T* y, std::size_t n) {
  for (std::size_t c = 0; c < n; ++c) y[c] = x[c] - m;
  detail::exp_inplace(y, n);
  return detail::row_sum(y, n);
}

// log sum_c exp(x_c), shifted by the row max so no exp overflows; `scratch` holds n values.
template <class T>
T row_logsumexp(const T* x, T* scratch, std::size_t n) {
  const T m = detail::row_max(x, n);
  return m + std::log(shifted_exp(x, m, scratch, n));
}

}  // namespace

// y = exp(x - m) / sum_c exp(x_c - m), m = max_c x_c (m cancels, so it needs no gradient);
// dx = y * (g - sum_c g_c y_c)
template <class T>
Tensor<T> softmax(const Tensor<T>& a) {
  const OpTimer timer("softmax");
  const Rows rows = last_axis_rows(a.shape(), "softmax");
  Array<T> out = map_rows(a, rows, [n = rows.width](const T* x, T* y) {
    const T inv = T(1) / shifted_exp(x, detail::row_max(x, n), y, n);
    for (std::size_t c = 0; c < n; ++c) y[c] *= inv;
  });
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), "softmax", {a}, [na, rows](const Array<T>& g, const Array<T>& out) {
    T* dx = na->grad_buffer().data();
    parallel_ranges(rows.count, rows_per_task(rows.width), [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t at = r * rows.width;
        const T* gr = g.data() + at;
        const T* y = out.data() + at;
        const T dot = detail::row_dot(gr, y, rows.width);
        for (std::size_t c = 0; c < rows.width; ++c) dx[at + c] += y[c] * (gr[c] - dot);
      }
    });
  });
}

// y = x - logsumexp(x);  dx = g - softmax(x) * sum_c g_c, softmax(x) = exp(y)
template <class T>
Tensor<T> log_softmax(const Tensor<T>& a) {
  const OpTimer timer("log_softmax");
  const Rows rows = last_axis_rows(a.shape(), "log_softmax");
  Array<T> out = map_rows(a, rows, [n = rows.width](const T* x, T* y) {
    const T lse = row_logsumexp(x, y, n);  // y is scratch until overwritten below
    for (std::size_t c = 0; c < n; ++c) y[c] = x[c] - lse;
  });
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), "log_softmax", {a}, [na, rows](const Array<T>& g, const Array<T>& out) {
    T* dx = na->grad_buffer().data();
    parallel_ranges(rows.count, rows_per_task(rows.width), [&](std::size_t r0, std::size_t r1) {
      std::vector<T> p(rows.width);  // softmax of the row
      for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t at = r * rows.width;
        const T* gr = g.data() + at;
        std::copy(out.data() + at, out.data() + at + rows.width, p.begin());
        detail::exp_inplace(p.data(), rows.width);
        const T total = detail::row_sum(gr, rows.width);
        for (std::size_t c = 0; c < rows.width; ++c) dx[at + c] += gr[c] - p[c] * total;
      }
    });
  });
}

// Over the N kept rows r (target t_r != ignore_index):
//   loss = (1/N) sum_r (logsumexp(x_r) - x_{r, t_r});
//   dx_r = g (softmax(x_r) - onehot(t_r)) / N, and 0 on ignored rows.
// Saved for backward: one logsumexp per row (softmax is recomputed, not stored).
template <class T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const Indices& targets, std::int64_t ignore_index) {
  const OpTimer timer("cross_entropy");
  const Shape shape = logits.shape();
  const Rows rows = last_axis_rows(shape, "cross_entropy");
  const Shape row_shape(shape.begin(), shape.end() - 1);
  const Shape target_shape = to_shape(targets.shape());
  if (target_shape != row_shape)
    throw std::invalid_argument(fmt::format(
        "cross_entropy: targets have shape {}, but logits {} need targets of shape {}",
        shape_str(target_shape), shape_str(shape), shape_str(row_shape)));
  const std::int64_t classes = static_cast<std::int64_t>(rows.width);
  const std::int64_t* t = targets.data();
  for (std::size_t r = 0; r < rows.count; ++r)
    if (t[r] != ignore_index && (t[r] < 0 || t[r] >= classes))
      throw std::invalid_argument(fmt::format(
          "cross_entropy: target {} at position {} is out of range for {} classes (ignore_index {})",
          t[r], shape_str(unravel_index(r, row_shape)), classes, ignore_index));

  // Rows in parallel; the loss terms are then added in row order (the same sum at any thread count).
  std::vector<T> lse(rows.count, T(0)), term(rows.count, T(0));
  std::vector<std::int64_t> kept_targets(t, t + rows.count);
  parallel_ranges(rows.count, rows_per_task(rows.width), [&](std::size_t r0, std::size_t r1) {
    std::vector<T> scratch(rows.width);
    for (std::size_t r = r0; r < r1; ++r) {
      if (t[r] == ignore_index) continue;
      const T* x = logits.data() + r * rows.width;
      lse[r] = row_logsumexp(x, scratch.data(), rows.width);
      term[r] = lse[r] - x[t[r]];
    }
  });
  double total = 0;
  std::size_t count = 0;
  for (std::size_t r = 0; r < rows.count; ++r) {
    if (t[r] == ignore_index) continue;
    total += static_cast<double>(term[r]);
    ++count;
  }
  Array<T> out = filled_array<T>({}, count ? static_cast<T>(total / static_cast<double>(count)) : T(0));
  if (!needs_grad<T>({&logits})) return Tensor<T>(std::move(out));
  auto nx = logits.node();
  return make_result<T>(std::move(out), "cross_entropy", {logits},
                        [nx, rows, ignore_index, count, lse = std::move(lse),
                         kept_targets = std::move(kept_targets)](const Array<T>& g, const Array<T>&) {
    T* dx = nx->grad_buffer().data();  // zero on ignored rows
    if (count == 0) return;
    const T scale = g.data()[0] / static_cast<T>(count);
    parallel_ranges(rows.count, rows_per_task(rows.width), [&](std::size_t r0, std::size_t r1) {
      std::vector<T> p(rows.width);  // softmax of the row
      for (std::size_t r = r0; r < r1; ++r) {
        if (kept_targets[r] == ignore_index) continue;
        const std::size_t at = r * rows.width;
        const T* x = nx->value.data() + at;
        for (std::size_t c = 0; c < rows.width; ++c) p[c] = x[c] - lse[r];
        detail::exp_inplace(p.data(), rows.width);
        for (std::size_t c = 0; c < rows.width; ++c) dx[at + c] += scale * p[c];
        dx[at + static_cast<std::size_t>(kept_targets[r])] -= scale;
      }
    });
  });
}

#define PF_INSTANTIATE(T)                                                          \
  template Tensor<T> softmax<T>(const Tensor<T>&);                                 \
  template Tensor<T> log_softmax<T>(const Tensor<T>&);                             \
  template Tensor<T> cross_entropy<T>(const Tensor<T>&, const Indices&, std::int64_t);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
