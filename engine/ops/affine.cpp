#include "engine/ops/affine.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/ops/shape_ops.hpp"
#include "engine/kernels/gelu.hpp"
#include "engine/kernels/simd.hpp"

namespace pf {
namespace {

template <class T>
using B = detail::Batch<T>;

// Rows and widths of x [..., in] against w [out, in] and bias [out].
struct AffinePlan {
  std::size_t rows = 0, in = 0, out = 0;
  Shape out_shape;
};

template <class T>
AffinePlan plan_affine(const char* op, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* bias) {
  if (x.dim() < 1 || w.dim() != 2 || x.size(-1) != w.size(1))
    throw std::invalid_argument(fmt::format("{}: x {} must be [..., in] and w {} [out, in] with the same in", op,
                                            shape_str(x.shape()), shape_str(w.shape())));
  if (bias && (bias->dim() != 1 || bias->size(0) != w.size(0)))
    throw std::invalid_argument(
        fmt::format("{}: bias {} must be [out] = [{}]", op, shape_str(bias->shape()), w.size(0)));
  AffinePlan p;
  p.in = w.size(1);
  p.out = w.size(0);
  p.rows = 1;  // the leading axes' product (not numel / in: in may be 0)
  for (std::size_t a = 0; a + 1 < x.shape().size(); ++a) p.rows *= x.shape()[a];
  if (std::max({p.rows, p.in, p.out}) > std::size_t(std::numeric_limits<int>::max()))
    throw std::invalid_argument(fmt::format("{}: x {} and w {} make a product of {} rows, in {}, out {}: past the "
                                            "GEMM's limit of 2^31 - 1 per side",
                                            op, shape_str(x.shape()), shape_str(w.shape()), p.rows, p.in, p.out));
  p.out_shape = x.shape();
  p.out_shape.back() = p.out;
  return p;
}

// y = a W^T, then y += b row by row (the product first, so values equal matmul followed by add;
// the GEMM adds b as it stores y).
template <class T>
void affine_forward(const T* a, const Array<T>& w, const Tensor<T>* bias, const AffinePlan& p, T* y) {
  if (p.rows == 0 || p.out == 0) return;
  if (p.in == 0) {  // an empty product (BLAS would refuse its leading dimension 0)
    for (std::size_t i = 0; i < p.rows; ++i)
      for (std::size_t j = 0; j < p.out; ++j) y[i * p.out + j] = bias ? bias->data()[j] : T(0);
  } else if (bias)
    gemm_plus_bias<T>(false, true, int(p.rows), int(p.out), int(p.in), a, int(p.in), w.data(), int(p.in),
                      bias->data(), y, int(p.out));
  else
    gemm<T>(false, true, int(p.rows), int(p.out), int(p.in), T(1), a, int(p.in), w.data(), int(p.in), T(0), y,
            int(p.out));
}

// dx [rows, in] = beta dx + g [rows, out] W [out, in]
template <class T>
void affine_input_grad(const T* g, const Array<T>& w, const AffinePlan& p, T beta, T* dx) {
  gemm<T>(false, false, int(p.rows), int(p.in), int(p.out), T(1), g, int(p.out), w.data(), int(p.in), beta, dx,
          int(p.in));
}

// The tape inputs (x, w, and the bias when given), or none when no gradient is wanted.
template <class T>
std::vector<Tensor<T>> affine_tape_inputs(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* bias) {
  const bool grad = bias ? needs_grad<T>({&x, &w, bias}) : needs_grad<T>({&x, &w});
  if (!grad) return {};
  std::vector<Tensor<T>> inputs{x, w};
  if (bias) inputs.push_back(*bias);
  return inputs;
}

// db[j] += sum_i g[i, j], each column summed over the rows in order (so the result does not
// depend on the thread count); the columns are split over the threads in whole SIMD widths.
template <class T>
void add_column_sums(const T* g, std::size_t rows, std::size_t cols, T* db) {
  constexpr std::size_t W = B<T>::size;
  const std::size_t vectors = (cols + W - 1) / W;
  const std::size_t groups =
      rows * cols < detail::kParallelGrain ? 1 : std::min<std::size_t>(vectors, 2 * std::size_t(num_threads()));
  const std::size_t per_group = (vectors + groups - 1) / std::max<std::size_t>(groups, 1);
  parallel_for(groups, [&](std::size_t c) {
    const std::size_t j0 = std::min(cols, c * per_group * W), j1 = std::min(cols, (c + 1) * per_group * W);
    for (std::size_t i = 0; i < rows; ++i) {
      const T* gi = g + i * cols;
      for (std::size_t j = j0; j < j1; ++j) db[j] += gi[j];
    }
  });
}

// dW += g^T a and db += column sums of g.
template <class T>
void affine_param_grads(const T* g, const T* a, Node<T>* nw, Node<T>* nb, const AffinePlan& p) {
  if (nw->requires_grad && p.in > 0) {
    const auto dw = nw->grad_target();
    gemm<T>(true, false, int(p.out), int(p.in), int(p.rows), T(1), g, int(p.out), a, int(p.in), dw.beta, dw.data,
            int(p.in));
  }
  if (nb && nb->requires_grad) add_column_sums(g, p.rows, p.out, nb->grad_buffer().data());
}

// From one erfc per value, on one thread: a[i] = gelu(u[i]) unless a is null, and unless d is
// null, d[i] *= gelu'(u[i]) or, with acc, acc[i] += d[i] gelu'(u[i]) (d then read only).
template <class T>
void gelu_and_slope_serial(const T* u, T* a, T* d, T* acc, std::size_t n) {
  constexpr std::size_t W = B<T>::size;
  const auto one = [a, d, acc](B<T> x, T* a_out, T* d_io, T* acc_io) {
    const B<T> two_cdf = detail::twice_cdf<T>(x);
    if (a) detail::gelu_from<T>(x, two_cdf).store_unaligned(a_out);
    if (!d) return;
    const B<T> scaled = B<T>::load_unaligned(d_io) * detail::gelu_slope_from<T>(x, two_cdf);
    if (acc) (B<T>::load_unaligned(acc_io) + scaled).store_unaligned(acc_io);
    else scaled.store_unaligned(d_io);
  };
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    one(B<T>::load_unaligned(u + i), a ? a + i : nullptr, d ? d + i : nullptr, acc ? acc + i : nullptr);
  if (i < n) {
    alignas(64) T tu[W] = {}, ta[W], td[W] = {}, tacc[W] = {};
    std::copy(u + i, u + n, tu);
    if (d) std::copy(d + i, d + n, td);
    if (acc) std::copy(acc + i, acc + n, tacc);
    one(B<T>::load_unaligned(tu), ta, td, tacc);
    if (a) std::copy(ta, ta + (n - i), a + i);
    if (acc) std::copy(tacc, tacc + (n - i), acc + i);
    else if (d) std::copy(td, td + (n - i), d + i);
  }
}

// The same, split over the threads
template <class T>
void gelu_and_slope(const T* u, T* a, T* d, T* acc, std::size_t n) {
  parallel_ranges(n, detail::kParallelGrain, [&](std::size_t b, std::size_t e) {
    gelu_and_slope_serial(u + b, a ? a + b : nullptr, d ? d + b : nullptr, acc ? acc + b : nullptr, e - b);
  });
}

// Values of u per block of gelu_affine's backward (512 KB of float32): a block's gelu(u) is
// made, used for dW and dropped while it is in L2, and the whole of gelu(u) is never held.
constexpr std::size_t kGeluBlockValues = std::size_t(1) << 17;

template <class T>
Array<T> gelu_of(const Array<T>& u) {
  Array<T> a = empty_array<T>(to_shape(u.shape()));
  detail::simd_map(u.data(), a.data(), a.size(), [](B<T> x) { return detail::gelu<T>(x); });
  return a;
}

}  // namespace

template <class T>
Tensor<T> affine(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* bias) {
  const OpTimer timer("affine");
  const AffinePlan p = plan_affine("affine", x, w, bias);
  Array<T> y = empty_array<T>(p.out_shape);
  affine_forward(x.data(), w.value(), bias, p, y.data());
  std::vector<Tensor<T>> inputs = affine_tape_inputs(x, w, bias);
  if (inputs.empty()) return Tensor<T>(std::move(y));
  auto nx = x.node(), nw = w.node();
  auto nb = bias ? bias->node() : nullptr;
  return make_result<T>(std::move(y), "affine", std::move(inputs), [nx, nw, nb, p](const Array<T>& g, const Array<T>&) {
    if (p.rows == 0 || p.out == 0) return;
    if (nx->requires_grad && p.in > 0) {
      const auto dx = nx->grad_target();
      affine_input_grad(g.data(), nw->value, p, dx.beta, dx.data);
    }
    affine_param_grads(g.data(), nx->value.data(), nw.get(), nb.get(), p);
  });
}

template <class T>
Tensor<T> gelu_affine(const Tensor<T>& u, const Tensor<T>& w, const Tensor<T>* bias) {
  const OpTimer timer("gelu_affine");
  const AffinePlan p = plan_affine("gelu_affine", u, w, bias);
  Array<T> y = empty_array<T>(p.out_shape);
  {
    const Array<T> a = gelu_of(u.value());  // freed here: the backward recomputes it
    affine_forward(a.data(), w.value(), bias, p, y.data());
  }
  std::vector<Tensor<T>> inputs = affine_tape_inputs(u, w, bias);
  if (inputs.empty()) return Tensor<T>(std::move(y));
  auto nu = u.node(), nw = w.node();
  auto nb = bias ? bias->node() : nullptr;
  return make_result<T>(std::move(y), "gelu_affine", std::move(inputs),
                        [nu, nw, nb, p](const Array<T>& g, const Array<T>&) {
    if (p.rows == 0 || p.out == 0) return;
    if (nb && nb->requires_grad) add_column_sums(g.data(), p.rows, p.out, nb->grad_buffer().data());
    const bool want_dw = nw->requires_grad && p.in > 0, want_du = nu->requires_grad && p.in > 0;
    if (!want_dw && !want_du) return;
    // dW = g^T gelu(u) and du = (g W) gelu'(u), block by block of rows, from one erfc per value
    // for both (the forward freed gelu(u)): a block's gelu(u) is used for dW while in L2. The
    // blocks depend on the shape alone, so dW's sums run in the same order on any number of
    // threads. The backward's peak memory is here (the top block's feed-forward runs with every
    // activation alive), so when du is not yet written, da = g W goes straight into it.
    const std::size_t block_rows = std::max<std::size_t>(1, kGeluBlockValues / p.in);
    const std::size_t block = std::min(block_rows, p.rows) * p.in;
    typename Node<T>::GradTarget dw{}, du{};
    if (want_dw) dw = nw->grad_target();
    if (want_du) du = nu->grad_target();
    const bool du_fresh = want_du && du.beta == T(0);
    Array<T> a = want_dw ? empty_array<T>({block}) : Array<T>();
    Array<T> da = want_du && !du_fresh ? empty_array<T>({block}) : Array<T>();
    const T* u = nu->value.data();
    for (std::size_t r0 = 0; r0 < p.rows; r0 += block_rows) {
      const std::size_t rows = std::min(block_rows, p.rows - r0), n = rows * p.in;
      const T* g_block = g.data() + r0 * p.out;
      T* da_block = nullptr;
      if (want_du) {
        da_block = du_fresh ? du.data + r0 * p.in : da.data();
        affine_input_grad(g_block, nw->value, AffinePlan{rows, p.in, p.out, {}}, T(0), da_block);
      }
      gelu_and_slope(u + r0 * p.in, want_dw ? a.data() : nullptr, da_block,
                     want_du && !du_fresh ? du.data + r0 * p.in : nullptr, n);
      if (want_dw)
        gemm<T>(true, false, int(p.out), int(p.in), int(rows), T(1), g_block, int(p.out), a.data(), int(p.in),
                r0 == 0 ? dw.beta : T(1), dw.data, int(p.in));
    }
  });
}

template <class T>
Tensor<T> affine_permuted(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* bias, const Shape& view,
                          const std::vector<std::size_t>& axes, const Shape& shape) {
  const OpTimer timer("affine_permuted");
  const AffinePlan p = plan_affine("affine_permuted", x, w, bias);
  Tensor<T> permuted;
  {
    NoGradGuard no_grad;  // the product is a temporary; only its permuted copy is recorded
    Array<T> y = empty_array<T>(p.out_shape);
    affine_forward(x.data(), w.value(), bias, p, y.data());
    permuted = permute_as(Tensor<T>(std::move(y)), view, axes, shape);
  }
  std::vector<Tensor<T>> inputs = affine_tape_inputs(x, w, bias);
  if (inputs.empty()) return permuted;
  // The gradient goes back through the inverse permutation: g viewed as the permuted view.
  Shape permuted_view(axes.size());
  std::vector<std::size_t> inverse(axes.size());
  for (std::size_t i = 0; i < axes.size(); ++i) {
    permuted_view[i] = view[axes[i]];
    inverse[axes[i]] = i;
  }
  auto nx = x.node(), nw = w.node();
  auto nb = bias ? bias->node() : nullptr;
  return make_result<T>(std::move(permuted.value()), "affine_permuted", std::move(inputs),
                        [nx, nw, nb, p, permuted_view, inverse](const Array<T>& g_permuted, const Array<T>&) {
    if (p.rows == 0 || p.out == 0) return;
    Tensor<T> g;
    {
      NoGradGuard no_grad;
      g = permute_as(Tensor<T>(g_permuted), permuted_view, inverse, p.out_shape);
    }
    if (nx->requires_grad && p.in > 0) {
      const auto dx = nx->grad_target();
      affine_input_grad(g.data(), nw->value, p, dx.beta, dx.data);
    }
    affine_param_grads(g.data(), nx->value.data(), nw.get(), nb.get(), p);
  });
}

template Tensor<float> affine<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>*);
template Tensor<double> affine<double>(const Tensor<double>&, const Tensor<double>&, const Tensor<double>*);
template Tensor<float> gelu_affine<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>*);
template Tensor<double> gelu_affine<double>(const Tensor<double>&, const Tensor<double>&, const Tensor<double>*);
template Tensor<float> affine_permuted<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>*,
                                              const Shape&, const std::vector<std::size_t>&, const Shape&);
template Tensor<double> affine_permuted<double>(const Tensor<double>&, const Tensor<double>&, const Tensor<double>*,
                                                const Shape&, const std::vector<std::size_t>&, const Shape&);

}  // namespace pf
