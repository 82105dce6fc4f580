#include "engine/ops/layer_norm.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/row_math.hpp"
#include "engine/kernels/thread_pool.hpp"

namespace pf {
namespace {
// Rows per parallel task (a fixed split, so the row sums of backward do not depend on the
// thread count).
constexpr std::size_t kRowsPerTask = 64;
}  // namespace

// Per row of D (x [N, D] after flattening the leading axes):
//   mu = mean(x), var = mean((x - mu)^2), rstd = 1 / sqrt(var + eps),
//   xhat = (x - mu) rstd,  y = xhat * gamma + beta.
// Backward, with dxhat = g * gamma:
//   dbeta = sum_rows g,  dgamma = sum_rows g * xhat,
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat * xhat)).
// Saved for backward: mu and rstd per row (xhat is recomputed from x).
template <class T>
Tensor<T> layer_norm(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta, double eps) {
  const OpTimer timer("layer_norm");
  const Shape shape = x.shape();
  if (shape.empty() || shape.back() == 0)
    throw std::invalid_argument(fmt::format("layer_norm: x needs a non-empty last axis, got shape {}",
                                            shape_str(shape)));
  const std::size_t D = shape.back(), N = x.numel() / D;
  if (gamma.shape() != Shape{D} || beta.shape() != Shape{D})
    throw std::invalid_argument(fmt::format(
        "layer_norm: gamma {} and beta {} must both have shape [{}] for x of shape {}",
        shape_str(gamma.shape()), shape_str(beta.shape()), D, shape_str(shape)));
  if (!(eps >= 0))
    throw std::invalid_argument(fmt::format("layer_norm: eps must be >= 0, got {}", eps));

  Array<T> out = empty_array<T>(shape);
  std::vector<T> mean(N), rstd(N);
  const T* pg = gamma.data();
  const T* pb = beta.data();
  const T inv_d = T(1) / static_cast<T>(D);
  parallel_ranges(N, kRowsPerTask, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const T* xr = x.data() + r * D;
      T* yr = out.data() + r * D;
      const T mu = detail::row_sum(xr, D) * inv_d;
      // Two passes (var from the centred values, held in y for now): no cancellation.
      for (std::size_t c = 0; c < D; ++c) yr[c] = xr[c] - mu;
      const T rs = T(1) / std::sqrt(detail::row_dot(yr, yr, D) * inv_d + static_cast<T>(eps));
      for (std::size_t c = 0; c < D; ++c) yr[c] = yr[c] * rs * pg[c] + pb[c];
      mean[r] = mu;
      rstd[r] = rs;
    }
  });
  if (!needs_grad<T>({&x, &gamma, &beta})) return Tensor<T>(std::move(out));
  auto nx = x.node(), ng = gamma.node(), nb = beta.node();
  return make_result<T>(std::move(out), "layer_norm", {x, gamma, beta},
                        [nx, ng, nb, N, D, mean = std::move(mean), rstd = std::move(rstd)](
                            const Array<T>& g, const Array<T>&) {
    T* dx = nx->requires_grad ? nx->grad_buffer().data() : nullptr;
    T* dgamma = ng->requires_grad ? ng->grad_buffer().data() : nullptr;
    T* dbeta = nb->requires_grad ? nb->grad_buffer().data() : nullptr;
    const T* gam = ng->value.data();
    const T inv_d = T(1) / static_cast<T>(D);
    // dgamma and dbeta sum over rows: each task of kRowsPerTask rows (fixed, whatever the thread
    // count) sums its own rows, then the tasks' sums are added in task order.
    const std::size_t tasks = (N + kRowsPerTask - 1) / kRowsPerTask;
    std::vector<T> partial_gamma(dgamma ? tasks * D : 0, T(0)), partial_beta(dbeta ? tasks * D : 0, T(0));
    parallel_for(tasks, [&](std::size_t task) {
      std::vector<T> xhat(D), dxhat(D);
      T* pgam = dgamma ? partial_gamma.data() + task * D : nullptr;
      T* pbet = dbeta ? partial_beta.data() + task * D : nullptr;
      for (std::size_t r = task * kRowsPerTask; r < std::min(N, (task + 1) * kRowsPerTask); ++r) {
        const T* xr = nx->value.data() + r * D;
        const T* gr = g.data() + r * D;
        const T mu = mean[r], rs = rstd[r];
        for (std::size_t c = 0; c < D; ++c) {
          xhat[c] = (xr[c] - mu) * rs;
          dxhat[c] = gr[c] * gam[c];
        }
        if (pgam)
          for (std::size_t c = 0; c < D; ++c) pgam[c] += gr[c] * xhat[c];
        if (pbet)
          for (std::size_t c = 0; c < D; ++c) pbet[c] += gr[c];
        if (dx) {
          const T mean_dxhat = detail::row_sum(dxhat.data(), D) * inv_d;
          const T mean_dxhat_xhat = detail::row_dot(dxhat.data(), xhat.data(), D) * inv_d;
          T* dxr = dx + r * D;
          for (std::size_t c = 0; c < D; ++c) dxr[c] += rs * (dxhat[c] - mean_dxhat - xhat[c] * mean_dxhat_xhat);
        }
      }
    });
    for (std::size_t task = 0; task < tasks; ++task)
      for (std::size_t c = 0; c < D; ++c) {
        if (dgamma) dgamma[c] += partial_gamma[task * D + c];
        if (dbeta) dbeta[c] += partial_beta[task * D + c];
      }
  });
}

template Tensor<float> layer_norm<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&, double);
template Tensor<double> layer_norm<double>(const Tensor<double>&, const Tensor<double>&, const Tensor<double>&,
                                           double);

}  // namespace pf
