#include "layers/attention/feature_maps.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/kernels/row_math.hpp"
#include "engine/kernels/simd.hpp"
#include "engine/kernels/thread_pool.hpp"

namespace pf {

FeatureFunction FeatureFunction::relu() {
  FeatureFunction fn;
  fn.name = "relu";
  fn.f = [](double u) { return u > 0 ? u : 0.0; };
  fn.df = [](double u) { return u > 0 ? 1.0 : 0.0; };
  fn.is_relu = true;
  return fn;
}

namespace {

// Row geometry of x [..., L, d] against W [m, d].
struct Rows {
  std::size_t n = 0;      // rows (all leading axes and L)
  std::size_t len = 0;    // L, rows per stabiliser slice
  std::size_t d = 0, m = 0;
  double norm = 0;        // d^{-1/4}
};

Rows check_rows(const char* op, const Shape& xs, const Shape& ws, bool allow_empty_w = false) {
  if (xs.size() < 2)
    throw std::invalid_argument(fmt::format("{}: x must be [..., L, d], got {}", op, shape_str(xs)));
  Rows r;
  r.d = xs.back();
  r.len = xs[xs.size() - 2];
  r.n = shape_numel(xs) / std::max<std::size_t>(r.d, 1);
  if (allow_empty_w && shape_numel(ws) == 0) {
    r.m = r.d;
  } else {
    if (ws.size() != 2 || ws[0] == 0)
      throw std::invalid_argument(fmt::format("{}: W must be [m, d] with m > 0, got {}", op, shape_str(ws)));
    if (ws[1] != r.d)
      throw std::invalid_argument(fmt::format("{}: x {} and W {} do not match on d ({} vs {})", op,
                                              shape_str(xs), shape_str(ws), r.d, ws[1]));
    r.m = ws[0];
  }
  if (r.d == 0) throw std::invalid_argument(fmt::format("{}: x {} has d = 0", op, shape_str(xs)));
  r.norm = std::pow(double(r.d), -0.25);
  return r;
}

// U [n, m] = x^ W^T = d^{-1/4} x W^T: one GEMM over all rows.
template <class T>
Array<T> project(const T* x, const Array<T>& w, const Rows& r) {
  Array<T> u = empty_array<T>({r.n, r.m});
  if (r.n > 0)
    gemm_set(mat(u.data(), r.n, r.m), mat(x, r.n, r.d), mat(w.data(), r.m, r.d).T(), T(r.norm));
  return u;
}

// s_n = |x^_n|^2 / 2 = |x_n|^2 / (2 sqrt d).
template <class T>
std::vector<T> half_sq_norms(const T* x, const Rows& r) {
  std::vector<T> s(r.n);
  const T scale = T(r.norm * r.norm / 2);
  for (std::size_t i = 0; i < r.n; ++i) {
    T acc = 0;
    for (std::size_t t = 0; t < r.d; ++t) acc += x[i * r.d + t] * x[i * r.d + t];
    s[i] = acc * scale;
  }
  return s;
}

// Where each stabiliser c was taken: the row holding the max and the signed column of W
// (+(j+1) for u_j, -(j+1) for -u_j); one entry per row (row_max) or per slice (slice_max).
struct StabiliserArgmax {
  std::vector<std::size_t> row;
  std::vector<long> signed_col;
};

// dx += -d^{-1/4} (dL/dc-bar) sign W[j*] at each argmax row, where dl_dc_neg[k] = sum of
// g * (phi - eps-part) over the row or slice k (phi depends on c as exp(-c), so dL/dc = -that).
template <class T>
void add_stabiliser_grad(T* dx, const Array<T>& w, const Rows& r, const StabiliserArgmax& arg,
                         const std::vector<T>& row_sums, Stabiliser mode) {
  if (mode == Stabiliser::none) return;
  const std::size_t group = mode == Stabiliser::row_max ? 1 : r.len;
  for (std::size_t k = 0; k < arg.row.size(); ++k) {
    T total = 0;
    for (std::size_t i = k * group; i < (k + 1) * group; ++i) total += row_sums[i];
    const long sc = arg.signed_col[k];
    const T* wj = w.data() + std::size_t(std::labs(sc) - 1) * r.d;
    const T coef = T(-r.norm) * total * (sc > 0 ? T(1) : T(-1));
    T* dxi = dx + arg.row[k] * r.d;
    for (std::size_t t = 0; t < r.d; ++t) dxi[t] += coef * wj[t];
  }
}

// For maps of two halves phi = [phi1, phi2] (width 2m): f(g1, g2, phi1, phi2) of each entry j
// gives (b_ij, its term of row_sums_i), for rows [i0, i1) into b (row i at b + (i - i0) m).
template <class T, class F>
void paired_half_rows(const Array<T>& g, const Array<T>& phi, const Rows& r, std::size_t i0, std::size_t i1, T* b,
                      std::vector<T>& row_sums, F f) {
  const std::size_t width = 2 * r.m;
  for (std::size_t i = i0; i < i1; ++i) {
    const T* gi = g.data() + i * width;
    const T* pi = phi.data() + i * width;
    T* bi = b + (i - i0) * r.m;
    T acc = 0;
    for (std::size_t j = 0; j < r.m; ++j) {
      const auto [bij, term] = f(gi[j], gi[r.m + j], pi[j], pi[r.m + j]);
      bi[j] = bij;
      acc += term;
    }
    row_sums[i] = acc;
  }
}

// dx = beta dx + d^{-1/4} B W (one GEMM; beta as in blocked_projection_grad).
template <class T>
void add_projection_grad(typename Node<T>::GradTarget dx_target, const Array<T>& b, const Array<T>& w, const Rows& r) {
  if (r.n == 0) return;
  detail::gemm_views<T>("add_projection_grad", mat(dx_target.data, r.n, r.d), mat(b.data(), r.n, r.m),
                        mat(w.data(), r.m, r.d), T(r.norm), dx_target.beta);
}

// Rows per task of the fused feature maps: whole 12-row GEMM panels, and 96 x m floats of U (or
// of the backward's B) stay in L2 between the GEMM and the per-value pass.
constexpr std::size_t kFeatureBlockRows = 96;

// dx = beta dx + d^{-1/4} B W + coef * x_n * row_sums_n, with coef = +-d^{-1/2}, where B [n, m]
// (the gradient at U = x^ W^T) is made block by block of rows and goes through W while in L2:
// B is as large as phi, and writing it whole and reading it back cost more than making it.
// fill(i0, i1, b) writes B's rows [i0, i1) into b (row i at b + (i - i0) m) and row_sums[i0, i1).
// beta is Node::grad_target's (0 when dx is written for the first time: the GEMM overwrites it).
template <class T, class Fill>
void blocked_projection_grad(typename Node<T>::GradTarget dx_target, const T* x, const Array<T>& w, const Rows& r,
                             std::vector<T>& row_sums, T coef, Fill fill) {
  row_sums.assign(r.n, T(0));
  const std::size_t blocks = (r.n + kFeatureBlockRows - 1) / kFeatureBlockRows;
  parallel_for(blocks, [&](std::size_t block) {
    const std::size_t i0 = block * kFeatureBlockRows, i1 = std::min(r.n, i0 + kFeatureBlockRows), rows = i1 - i0;
    Array<T> b = empty_array<T>({rows, r.m});
    fill(i0, i1, b.data());
    T* dx = dx_target.data + i0 * r.d;
    detail::gemm_views<T>("blocked_projection_grad", mat(dx, rows, r.d), mat(b.data(), rows, r.m),
                          mat(w.data(), r.m, r.d), T(r.norm), dx_target.beta);
    for (std::size_t i = i0; i < i1; ++i) {
      const T k = coef * row_sums[i];
      for (std::size_t t = 0; t < r.d; ++t) dx[(i - i0) * r.d + t] += k * x[i * r.d + t];
    }
  });
}

// out[j] = scale (exp(sign u[j] - shift) + eps), on SIMD batches, on the calling thread (the fused
// forward runs it inside its parallel loop).
template <class T>
void exp_affine_serial(const T* u, T* out, std::size_t n, T sign, T shift, T scale, T eps) {
  using B = detail::Batch<T>;
  const B b_sign(sign), b_shift(shift), b_scale(scale), b_eps(eps);
  detail::simd_map_serial(u, out, n, [&](B x) { return b_scale * (xsimd::exp(b_sign * x - b_shift) + b_eps); });
}

// The first j with u[j] == value (the column a strict > scan keeps as the maximum); 0 when there
// is none (a row holding NaN), so backward still reads a valid column.
// (SIMD: the batch holding the first match is found by a vector compare, then scanned.)
template <class T>
std::size_t first_index_of(const T* u, std::size_t n, T value) {
  using B = detail::Batch<T>;
  const B v(value);
  std::size_t j = 0;
  for (; j + B::size <= n; j += B::size) {
    const auto hit = B::load_unaligned(u + j) == v;
    if (!xsimd::any(hit)) continue;
    // The first lane of the batch that matches, from the comparison's bits (a scan of the lanes
    // one by one costs a branch per lane and a mispredicted exit per row).
    std::uint32_t bits = 0;
    alignas(64) T lanes[B::size];
    xsimd::select(hit, B(T(1)), B(T(0))).store_aligned(lanes);
    for (std::size_t l = 0; l < B::size; ++l) bits |= std::uint32_t(lanes[l] != T(0)) << l;
    return j + std::size_t(__builtin_ctz(bits));
  }
  for (; j < n; ++j)
    if (u[j] == value) return j;
  return 0;
}

// The signed column of the first j with |u[j]| == value, as a scan testing u[j] then -u[j] with
// strict > keeps it: +(j+1) when u[j] == value, else -(j+1); +1 when there is none (NaN).
template <class T>
long first_signed_index_of(const T* u, std::size_t n, T value) {
  using B = detail::Batch<T>;
  const B v(value);
  std::size_t j = 0;
  for (; j + B::size <= n; j += B::size) {
    const B b = B::load_unaligned(u + j);
    if (xsimd::any((b == v) || (-b == v))) break;
  }
  for (; j < n; ++j) {
    if (u[j] == value) return long(j) + 1;
    if (-u[j] == value) return -(long(j) + 1);
  }
  return 1;
}

// a[j] = g[j] (phi[j] - floor) and returns sum_j a[j], on SIMD batches with one partial sum per
// lane (the order of the additions is fixed, so results do not depend on the thread count).
template <class T>
T scaled_excess_row(const T* g, const T* phi, T floor, T* a, std::size_t n) {
  using B = detail::Batch<T>;
  const B b_floor(floor);
  B lanes(T(0));
  std::size_t j = 0;
  for (; j + B::size <= n; j += B::size) {
    const B aj = B::load_unaligned(g + j) * (B::load_unaligned(phi + j) - b_floor);
    aj.store_unaligned(a + j);
    lanes += aj;
  }
  T sum = 0;
  for (; j < n; ++j) {
    a[j] = g[j] * (phi[j] - floor);
    sum += a[j];
  }
  return sum + xsimd::hadd(lanes);
}

Shape with_last(Shape s, std::size_t last) {
  s.back() = last;
  return s;
}

// The exponential maps' forward in one pass per block of rows: the block's U = x^ W^T is written
// by the GEMM straight into phi's storage (the first m columns of each row), and s = |x^|^2 / 2,
// the row maxima and the exp run on it while it is still in cache; U is never a separate array.
// With slice_max the exp waits for the slice's maximum, so it is a second pass over the blocks.
//   positive   (width m):  phi = r (exp(u - s - c) + eps),                      c = max u
//   hyperbolic (width 2m): phi = r [exp(u - s - c) + eps, exp(-u - s - c) + eps], c = max |u|
// Same values as GEMM, stabilisers and exp one after another; tested against autodiff through
// primitives. Returns phi; `r` gets the rows' geometry, `arg` where each c was taken (for backward).
template <class T>
Array<T> exp_features(const char* op, const Tensor<T>& x, const Tensor<T>& w, Stabiliser stabiliser, bool hyperbolic,
                      T eps, Rows& r, StabiliserArgmax& arg) {
  r = check_rows(op, x.shape(), w.shape());
  const std::size_t width = hyperbolic ? 2 * r.m : r.m;
  const T scale = T(1 / std::sqrt(double(width)));  // r = m^{-1/2}, or (2m)^{-1/2}
  const T half_norm_sq = T(r.norm * r.norm / 2);
  Array<T> phi = empty_array<T>(with_last(x.shape(), width));
  std::vector<T> shift(r.n);     // s_n + c_n, once c is known
  std::vector<T> row_max(r.n);   // max_j u_nj (hyperbolic: max_j |u_nj|)
  std::vector<long> row_arg(r.n);  // its signed column: +(j+1) for u_j, -(j+1) for -u_j
  const T* xd = x.data();
  // d^{-1/4} W^T [d, m] by rows, made once: the blocks' GEMMs then read it as it is stored (a
  // transposed operand would be re-packed column by column for every block of rows), with
  // alpha = 1 (so small blocks can go to small_gemm, which reads both operands in place).
  Array<T> wt = empty_array<T>({r.d, r.m});
  for (std::size_t j = 0; j < r.m; ++j)
    for (std::size_t t = 0; t < r.d; ++t) wt.data()[t * r.m + j] = T(r.norm) * w.data()[j * r.d + t];
  T* pd = phi.data();
  const bool per_row = stabiliser != Stabiliser::slice_max;
  auto exp_rows = [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* row = pd + i * width;
      if (hyperbolic) exp_affine_serial(row, row + r.m, r.m, T(-1), shift[i], scale, eps);  // before u is overwritten
      exp_affine_serial(row, row, r.m, T(1), shift[i], scale, eps);
    }
  };
  const std::size_t blocks = (r.n + kFeatureBlockRows - 1) / kFeatureBlockRows;
  parallel_for(blocks, [&](std::size_t b) {
    const std::size_t i0 = b * kFeatureBlockRows, i1 = std::min(r.n, i0 + kFeatureBlockRows);
    gemm_set(mat(pd + i0 * width, i1 - i0, r.m, width), mat(xd + i0 * r.d, i1 - i0, r.d),
             mat<const T>(wt.data(), r.d, r.m));
    for (std::size_t i = i0; i < i1; ++i) {
      shift[i] = detail::row_dot(xd + i * r.d, xd + i * r.d, r.d) * half_norm_sq;
      if (stabiliser == Stabiliser::none) continue;
      const T* ui = pd + i * width;
      if (hyperbolic) {
        const T top = detail::row_max(ui, r.m), bottom = detail::row_min(ui, r.m);
        row_max[i] = -bottom > top ? -bottom : top;
        row_arg[i] = first_signed_index_of(ui, r.m, row_max[i]);
      } else {
        row_max[i] = detail::row_max(ui, r.m);
        row_arg[i] = long(first_index_of(ui, r.m, row_max[i])) + 1;
      }
      if (per_row) shift[i] += row_max[i];
    }
    if (per_row) exp_rows(i0, i1);
  });
  if (stabiliser == Stabiliser::row_max) {
    arg.row.resize(r.n);
    for (std::size_t i = 0; i < r.n; ++i) arg.row[i] = i;
    arg.signed_col = std::move(row_arg);
  } else if (stabiliser == Stabiliser::slice_max) {
    for (std::size_t g0 = 0; g0 < r.n; g0 += r.len) {  // the first maximum in row-major order
      std::size_t best = g0;
      for (std::size_t i = g0 + 1; i < g0 + r.len; ++i)
        if (row_max[i] > row_max[best]) best = i;
      for (std::size_t i = g0; i < g0 + r.len; ++i) shift[i] += row_max[best];
      arg.row.push_back(best);
      arg.signed_col.push_back(row_arg[best]);
    }
    parallel_for(blocks, [&](std::size_t b) { exp_rows(b * kFeatureBlockRows, std::min(r.n, (b + 1) * kFeatureBlockRows)); });
  }
  return phi;
}

}  // namespace

// phi = r (e + eps), e = exp(u - s - c), r = m^{-1/2}.
// dphi/dx^ = r e (W_j - x^ - dc/dx^), so with a = g * r e and a_n = sum_j a_nj:
//   dx = d^{-1/4} (a W - x^ a_n - a_n W[j*] (row) or sum(a) W[j*] (slice)).
template <class T>
Tensor<T> positive_features(const Tensor<T>& x, const Tensor<T>& w, Stabiliser stabiliser, double eps) {
  const OpTimer timer("positive_features");
  const T teps = T(eps);
  Rows r;
  StabiliserArgmax arg;
  Array<T> phi = exp_features("positive_features", x, w, stabiliser, false, teps, r, arg);
  const T scale = T(1 / std::sqrt(double(r.m)));
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(phi));
  auto nx = x.node();
  Array<T> wv = w.value();  // a copy: a later redraw must not change this backward
  return make_result<T>(std::move(phi), "positive_features", {x},
                        [nx, wv, r, arg = std::move(arg), stabiliser, scale, teps](const Array<T>& g, const Array<T>& phi) {
    std::vector<T> row_sums;
    const T floor = scale * teps;
    const auto dx = nx->grad_target();
    blocked_projection_grad(dx, nx->value.data(), wv, r, row_sums, T(-r.norm * r.norm),
                            [&](std::size_t i0, std::size_t i1, T* a) {
      for (std::size_t i = i0; i < i1; ++i)
        row_sums[i] = scaled_excess_row(g.data() + i * r.m, phi.data() + i * r.m, floor, a + (i - i0) * r.m, r.m);
    });
    add_stabiliser_grad(dx.data, wv, r, arg, row_sums, stabiliser);
  });
}

// phi = r [e+ + eps, e- + eps], e+- = exp(+-u - s - c), r = (2m)^{-1/2}, c = max |u|.
// With a+- = g+- * r e+-:  dx = d^{-1/4} ((a+ - a-) W - x^ sum(a+ + a-) - sign* W[j*] (row or slice sum)).
template <class T>
Tensor<T> hyperbolic_features(const Tensor<T>& x, const Tensor<T>& w, Stabiliser stabiliser, double eps) {
  const OpTimer timer("hyperbolic_features");
  const T teps = T(eps);
  Rows r;
  StabiliserArgmax arg;
  Array<T> phi = exp_features("hyperbolic_features", x, w, stabiliser, true, teps, r, arg);
  const T scale = T(1 / std::sqrt(2.0 * double(r.m)));
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(phi));
  auto nx = x.node();
  Array<T> wv = w.value();
  return make_result<T>(std::move(phi), "hyperbolic_features", {x},
                        [nx, wv, r, arg = std::move(arg), stabiliser, scale, teps](const Array<T>& g, const Array<T>& phi) {
    const T floor = scale * teps;
    std::vector<T> row_sums;
    const auto dx = nx->grad_target();
    blocked_projection_grad(dx, nx->value.data(), wv, r, row_sums, T(-r.norm * r.norm),
                            [&](std::size_t i0, std::size_t i1, T* b) {
      paired_half_rows(g, phi, r, i0, i1, b, row_sums, [floor](T g1, T g2, T p1, T p2) {
        const T plus = g1 * (p1 - floor), minus = g2 * (p2 - floor);
        return std::make_pair(plus - minus, plus + minus);
      });
    });
    add_stabiliser_grad(dx.data, wv, r, arg, row_sums, stabiliser);
  });
}

// phi = r e^s [sin u, cos u], r = m^{-1/2}.
// dphi_sin/dx^ = phi_sin x^ + phi_cos W_j,  dphi_cos/dx^ = phi_cos x^ - phi_sin W_j, so
//   dx = d^{-1/4} ((g_sin phi_cos - g_cos phi_sin) W + x^ sum(g phi)).
template <class T>
Tensor<T> trig_features(const Tensor<T>& x, const Tensor<T>& w) {
  const OpTimer timer("trig_features");
  const Rows r = check_rows("trig_features", x.shape(), w.shape());
  Array<T> u = project(x.data(), w.value(), r);
  const std::vector<T> s = half_sq_norms(x.data(), r);
  const T scale = T(1 / std::sqrt(double(r.m)));
  const std::size_t width = 2 * r.m;
  Array<T> phi = empty_array<T>(with_last(x.shape(), width));
  for (std::size_t i = 0; i < r.n; ++i) {
    const T amp = scale * std::exp(s[i]);
    const T* ui = u.data() + i * r.m;
    T* pi = phi.data() + i * width;
    for (std::size_t j = 0; j < r.m; ++j) {
      pi[j] = amp * std::sin(ui[j]);
      pi[r.m + j] = amp * std::cos(ui[j]);
    }
  }
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(phi));
  auto nx = x.node();
  Array<T> wv = w.value();
  return make_result<T>(std::move(phi), "trig_features", {x}, [nx, wv, r](const Array<T>& g, const Array<T>& phi) {
    std::vector<T> row_sums;
    blocked_projection_grad(nx->grad_target(), nx->value.data(), wv, r, row_sums, T(r.norm * r.norm),
                            [&](std::size_t i0, std::size_t i1, T* b) {
      paired_half_rows(g, phi, r, i0, i1, b, row_sums, [](T g_sin, T g_cos, T p_sin, T p_cos) {
        return std::make_pair(g_sin * p_cos - g_cos * p_sin, g_sin * p_sin + g_cos * p_cos);
      });
    });
  });
}

// phi = r f(u) + eps (r = m^{-1/2}; without projection u = x^ and r = 1).
//   dx = d^{-1/4} (g r f'(u)) W   (without projection: d^{-1/4} g f'(u)).
template <class T>
Tensor<T> generalized_features(const Tensor<T>& x, const Tensor<T>& w, const FeatureFunction& fn, double eps) {
  const OpTimer timer("generalized_features");
  const Rows r = check_rows("generalized_features", x.shape(), w.shape(), true);
  const bool projected = w.numel() > 0;
  if (!fn.is_relu && (!fn.f || !fn.df))
    throw std::invalid_argument("generalized_features: the feature function needs both f and df");
  Array<T> u = projected ? project(x.data(), w.value(), r) : Array<T>(x.value() * T(r.norm));
  const T scale = projected ? T(1 / std::sqrt(double(r.m))) : T(1), teps = T(eps);
  Array<T> phi = empty_array<T>(with_last(x.shape(), r.m));
  const std::size_t total = r.n * r.m;
  if (fn.is_relu)
    for (std::size_t k = 0; k < total; ++k) phi.data()[k] = scale * std::max(u.data()[k], T(0)) + teps;
  else
    for (std::size_t k = 0; k < total; ++k) phi.data()[k] = scale * T(fn.f(double(u.data()[k]))) + teps;
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(phi));
  auto nx = x.node();
  Array<T> wv = w.value();
  return make_result<T>(std::move(phi), "generalized_features", {x},
                        [nx, wv, r, fn, u, scale, projected](const Array<T>& g, const Array<T>&) {
    const std::size_t total = r.n * r.m;
    Array<T> b = empty_array<T>({r.n, r.m});
    if (fn.is_relu)
      for (std::size_t k = 0; k < total; ++k) b.data()[k] = u.data()[k] > 0 ? g.data()[k] * scale : T(0);
    else
      for (std::size_t k = 0; k < total; ++k) b.data()[k] = g.data()[k] * scale * T(fn.df(double(u.data()[k])));
    if (projected) {
      add_projection_grad<T>(nx->grad_target(), b, wv, r);
    } else {
      T* dx = nx->grad_buffer().data();
      for (std::size_t k = 0; k < total; ++k) dx[k] += T(r.norm) * b.data()[k];
    }
  });
}

#define PF_INSTANTIATE(T)                                                                            \
  template Tensor<T> positive_features<T>(const Tensor<T>&, const Tensor<T>&, Stabiliser, double);   \
  template Tensor<T> hyperbolic_features<T>(const Tensor<T>&, const Tensor<T>&, Stabiliser, double); \
  template Tensor<T> trig_features<T>(const Tensor<T>&, const Tensor<T>&);                           \
  template Tensor<T> generalized_features<T>(const Tensor<T>&, const Tensor<T>&, const FeatureFunction&, double);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
