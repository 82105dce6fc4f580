#include "models/performer_decoder.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include "engine/core/profiler.hpp"
#include "engine/kernels/gelu.hpp"
#include "engine/kernels/simd.hpp"
#include "engine/kernels/thread_pool.hpp"

namespace pf {
namespace {

template <class T>
using Batch = xsimd::batch<T>;

// Panels of W^T [K, N] (a Linear's weight W [N, K] transposed): NB = 2 SIMD vectors of columns
// each, stored one after another as [K, NB] (the last one zero-padded), so a pass over a panel
// reads memory in order.
template <class T>
constexpr std::size_t kPanel = 2 * Batch<T>::size;

template <class T>
Array<T> panels_of(const Tensor<T>& w) {
  const std::size_t N = w.size(0), K = w.size(1), NB = kPanel<T>, P = (N + NB - 1) / NB;
  Array<T> t = filled_array<T>({P, K, NB}, T(0));
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t k = 0; k < K; ++k) t.data()[((n / NB) * K + k) * NB + n % NB] = w.data()[n * K + k];
  return t;
}

// One SIMD vector of panel weights as T: float32/float64 as stored, float16 widened in registers.
template <class T>
Batch<T> load_weights(const T* p) {
  return Batch<T>::load_unaligned(p);
}
inline Batch<float> load_weights(const float16_bits* p) { return load_float16(p); }

// f(pointer to the panels) with the pointer type of the storage in use.
template <class T, class Panels, class F>
decltype(auto) with_panels(const Panels& panels, F f) {
  if constexpr (std::is_same_v<T, float>)
    if (!panels.half.empty()) return f(panels.half.data());
  return f(panels.wide.data());
}

// Rows per tile (affine_tile below) for PB panels: the accumulators (RB x PB x 2 vectors), the
// PB x 2 weight vectors and a broadcast fit the vector registers. With AVX-512 (32 registers) 4
// rows of 1 or 2 panels; with 16, 2 rows of 2 panels, or 6 rows of 1 (12 accumulators, as the
// GEMM's 6 x 16 tile: 8 broadcasts and loads per 12 FMAs, and a panel re-read every 6 rows).
template <class T, std::size_t PB>
constexpr std::size_t kRowTile = Batch<float>::size >= 16 ? 4 : PB == 1 ? 6 : 2;

// out[r, n] (=, or += when `accumulate`) bias[n] + sum_k x[r, k] W^T[k, n] for RB rows and the
// columns of PB consecutive panels (`valid` of the last panel's NB are real): x [RB, K] (row
// stride ldx), out row stride ldo. The RB x PB x NB outputs stay in registers over the whole K
// loop (RB * PB * 2 independent FMA chains, so one row still keeps the FMA units busy); no
// horizontal sums. Each output is summed over k in order whatever the rows and panels beside it,
// so a row's result does not depend on how many rows step together or on the threads. The panels
// hold Wt: T, or float16 bits (for T = float) in the same layout.
template <class T, std::size_t RB, std::size_t PB, class Wt>
void affine_tile(const T* x, std::size_t ldx, std::size_t K, const Wt* panels, std::size_t valid, const T* bias, T* out,
                 std::size_t ldo, bool accumulate) {
  constexpr std::size_t W = Batch<T>::size, NB = 2 * W;
  Batch<T> acc[RB][PB][2];
  for (std::size_t r = 0; r < RB; ++r)
    for (std::size_t p = 0; p < PB; ++p) acc[r][p][0] = acc[r][p][1] = Batch<T>(T(0));
  for (std::size_t k = 0; k < K; ++k) {
    Batch<T> w[PB][2];
    for (std::size_t p = 0; p < PB; ++p) {
      const Wt* wk = panels + (p * K + k) * NB;
      w[p][0] = load_weights(wk);
      w[p][1] = load_weights(wk + W);
    }
    for (std::size_t r = 0; r < RB; ++r) {
      const Batch<T> xr(x[r * ldx + k]);
      for (std::size_t p = 0; p < PB; ++p) {
        acc[r][p][0] = xsimd::fma(xr, w[p][0], acc[r][p][0]);
        acc[r][p][1] = xsimd::fma(xr, w[p][1], acc[r][p][1]);
      }
    }
  }
  for (std::size_t r = 0; r < RB; ++r)
    for (std::size_t p = 0; p < PB; ++p) {
      alignas(64) T sums[NB];
      acc[r][p][0].store_aligned(sums);
      acc[r][p][1].store_aligned(sums + W);
      T* o = out + r * ldo + p * NB;
      const T* b = bias ? bias + p * NB : nullptr;
      const std::size_t columns = p + 1 == PB ? valid : NB;
      for (std::size_t c = 0; c < columns; ++c) {
        const T value = sums[c] + (b ? b[c] : T(0));
        o[c] = accumulate ? o[c] + value : value;
      }
    }
}

// Rows [0, R) in tiles of up to RB rows against PB panels (their weights stay in L1 from the
// first tile to the last, so every weight is read from memory once whatever R is).
template <class T, std::size_t PB, class Wt>
void affine_panels(const T* x, std::size_t ldx, std::size_t R, std::size_t K, const Wt* panels, std::size_t valid,
                   const T* bias, T* out, std::size_t ldo, bool accumulate) {
  constexpr std::size_t RB = kRowTile<T, PB>;
  std::size_t r = 0;
  for (; r + RB <= R; r += RB)
    affine_tile<T, RB, PB, Wt>(x + r * ldx, ldx, K, panels, valid, bias, out + r * ldo, ldo, accumulate);
  switch (R - r) {
    case 5: affine_tile<T, 5, PB, Wt>(x + r * ldx, ldx, K, panels, valid, bias, out + r * ldo, ldo, accumulate); break;
    case 4: affine_tile<T, 4, PB, Wt>(x + r * ldx, ldx, K, panels, valid, bias, out + r * ldo, ldo, accumulate); break;
    case 3: affine_tile<T, 3, PB, Wt>(x + r * ldx, ldx, K, panels, valid, bias, out + r * ldo, ldo, accumulate); break;
    case 2: affine_tile<T, 2, PB, Wt>(x + r * ldx, ldx, K, panels, valid, bias, out + r * ldo, ldo, accumulate); break;
    case 1: affine_tile<T, 1, PB, Wt>(x + r * ldx, ldx, K, panels, valid, bias, out + r * ldo, ldo, accumulate); break;
    default: break;
  }
}

// Panels [p0, p1) of W^T for R rows: two panels at a time for few rows, one at a time (in taller
// row tiles) from kRowTile<T, 1> rows on where that tile is taller than kRowTile<T, 2>.
template <class T, class Wt>
void affine_panel_range(const T* x, std::size_t ldx, std::size_t R, std::size_t K, const Wt* panels, std::size_t N,
                        const T* bias, T* out, std::size_t ldo, bool accumulate, std::size_t p0, std::size_t p1) {
  constexpr std::size_t NB = kPanel<T>;
  const bool pairs = kRowTile<T, 1> <= kRowTile<T, 2> || R < kRowTile<T, 1>;
  for (std::size_t p = p0; p < p1;) {
    const std::size_t n = p * NB, take = pairs && p + 2 <= p1 ? 2 : 1, valid = std::min(NB, N - (p + take - 1) * NB);
    const T* b = bias ? bias + n : nullptr;
    if (take == 2) affine_panels<T, 2, Wt>(x, ldx, R, K, panels + p * K * NB, valid, b, out + n, ldo, accumulate);
    else affine_panels<T, 1, Wt>(x, ldx, R, K, panels + p * K * NB, valid, b, out + n, ldo, accumulate);
    p += take;
  }
}

// On 2 threads, each product is cut in two fixed halves of its panels, and the calling thread
// always takes the first: so each core reads the same half of every weight at every step, and
// for the default model that half (~1.6 MB) stays in the core's L2 instead of streaming the whole
// ~3.3 MB from L3 on one core. The pool hands out indices dynamically, so each index claims a
// half (its own thread's first, if still free); which thread computes a half never changes the
// result (each output is computed whole by one thread).
template <class F>
void on_two_sticky_halves(F half) {
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> claimed[2] = {false, false};
  parallel_for(2, [&](std::size_t) {
    const std::size_t mine = std::this_thread::get_id() == caller ? 0 : 1;
    if (!claimed[mine].exchange(true)) half(mine);
    else if (!claimed[1 - mine].exchange(true)) half(1 - mine);
  });
}

// All N outputs for R rows: x [R, K] (row stride ldx) times the panels of W^T, out [R, N] (row
// stride ldo), on 2 threads in two sticky halves (above), on more in chunks when there is enough
// work.
template <class T, class Wt>
void affine_rows(const T* x, std::size_t ldx, std::size_t R, std::size_t K, const Wt* panels, std::size_t N,
                 const T* bias, T* out, std::size_t ldo, bool accumulate = false) {
  constexpr std::size_t NB = kPanel<T>;
  const std::size_t P = (N + NB - 1) / NB;
  const auto range = [&](std::size_t p0, std::size_t p1) {
    affine_panel_range(x, ldx, R, K, panels, N, bias, out, ldo, accumulate, p0, p1);
  };
  std::size_t grain = std::max<std::size_t>(4, (std::size_t(1) << 16) / std::max<std::size_t>(R * K * NB, 1));
  grain += grain % 2;  // whole pairs of panels per chunk
  if (num_threads() == 2 && !inside_parallel_region() && P >= 4 && R * K * N >= (std::size_t(1) << 14)) {
    const std::size_t split = (P / 2 + 1) / 2 * 2;  // an even number of panels first
    on_two_sticky_halves([&](std::size_t h) { h == 0 ? range(0, split) : range(split, P); });
  } else if (num_threads() > 2 && P >= 2 * grain) {
    parallel_for((P + grain - 1) / grain, [&](std::size_t c) { range(c * grain, std::min(P, (c + 1) * grain)); });
  } else {
    range(0, P);
  }
}

// sum_i x_i, sum_i (x_i - shift)^2 and max_i x_i over n values, in SIMD lanes then across them
// (the order depends on n only, so a row's result does not depend on the rows beside it).
template <class T>
T sum_of(const T* x, std::size_t n) {
  constexpr std::size_t W = Batch<T>::size;
  Batch<T> acc(T(0));
  std::size_t i = 0;
  for (; i + W <= n; i += W) acc += Batch<T>::load_unaligned(x + i);
  T sum = xsimd::hadd(acc);
  for (; i < n; ++i) sum += x[i];
  return sum;
}

template <class T>
T squares_about(const T* x, std::size_t n, T shift) {
  constexpr std::size_t W = Batch<T>::size;
  const Batch<T> s(shift);
  Batch<T> acc(T(0));
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const Batch<T> e = Batch<T>::load_unaligned(x + i) - s;
    acc = xsimd::fma(e, e, acc);
  }
  T sum = xsimd::hadd(acc);
  for (; i < n; ++i) sum += (x[i] - shift) * (x[i] - shift);
  return sum;
}

template <class T>
T max_of(const T* x, std::size_t n) {
  constexpr std::size_t W = Batch<T>::size;
  T best = -std::numeric_limits<T>::infinity();
  std::size_t i = 0;
  if (n >= W) {
    Batch<T> acc = Batch<T>::load_unaligned(x);
    for (i = W; i + W <= n; i += W) acc = xsimd::max(acc, Batch<T>::load_unaligned(x + i));
    alignas(64) T lanes[W];
    acc.store_aligned(lanes);
    best = *std::max_element(lanes, lanes + W);
  }
  for (; i < n; ++i) best = std::max(best, x[i]);
  return best;
}

// y = (x - mean) / sqrt(var + eps) * gamma + beta per row of D (as engine/ops/layer_norm.cpp).
template <class T>
void layer_norm_rows(const T* x, std::size_t R, std::size_t D, const LayerNorm<T>& norm, T* y) {
  const T* g = norm.weight().data();
  const T* b = norm.bias().data();
  const T inv_d = T(1) / T(D);
  for (std::size_t r = 0; r < R; ++r) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    const T mu = sum_of(xr, D) * inv_d;
    const T rs = T(1) / std::sqrt(squares_about(xr, D, mu) * inv_d + T(norm.eps()));
    for (std::size_t c = 0; c < D; ++c) yr[c] = (xr[c] - mu) * rs * g[c] + b[c];
  }
}

// Rotate each pair (x_2i, x_2i+1) of one head by l theta_i, theta_i = 10000^{-2i/d} (as
// layers/attention/position_encoding.cpp).
template <class T>
void rotate_head(T* x, std::size_t d, std::size_t position) {
  for (std::size_t i = 0; i < d / 2; ++i) {
    const double angle = double(position) * std::pow(10000.0, -2.0 * double(i) / double(d));
    const T c = T(std::cos(angle)), s = T(std::sin(angle));
    const T a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = c * a - s * b;
    x[2 * i + 1] = s * a + c * b;
  }
}

const char* kernel_refusal = "PerformerDecoder: recurrent generation needs a causal model with a FAVOR kernel";

}  // namespace

const char* weight_storage_name(WeightStorage storage) {
  return storage == WeightStorage::float16 ? "float16" : "float32";
}

WeightStorage parse_weight_storage(const std::string& name) {
  if (name == "float32") return WeightStorage::float32;
  if (name == "float16") return WeightStorage::float16;
  throw std::invalid_argument(fmt::format("PerformerDecoder: weight storage '{}' is not float32 or float16", name));
}

// W^T's panels in this decoder's storage. For float16 every weight must be within float16's
// finite range: a larger one (or inf, NaN) would turn into inf or NaN in every logit, so it is
// refused with the tensor's name (`name`) and the value.
template <class T>
typename PerformerDecoder<T>::Panels PerformerDecoder<T>::stored_panels(const Tensor<T>& w,
                                                                          const std::string& name) const {
  Panels panels;
  panels.wide = panels_of(w);
  if (storage_ == WeightStorage::float32) return panels;
  for (std::size_t i = 0; i < w.numel(); ++i)
    if (!(std::abs(w.data()[i]) <= T(kFloat16Max)))
      throw std::invalid_argument(fmt::format("PerformerDecoder: float16 weights: {} {} holds {} at [{}, {}], "
                                              "outside float16's range [-65504, 65504] (use float32 weights)",
                                              name, shape_str(w.shape()), double(w.data()[i]), i / w.size(1),
                                              i % w.size(1)));
  panels.half.resize(panels.wide.size());
  for (std::size_t i = 0; i < panels.half.size(); ++i) panels.half[i] = float16_from_float(float(panels.wide.data()[i]));
  panels.wide = Array<T>();
  return panels;
}

template <class T>
PerformerDecoder<T>::PerformerDecoder(const PerformerLM<T>& model, std::size_t rows, WeightStorage storage)
    : model_(model), config_(model.config()), storage_(storage), rows_(rows) {
  if (storage == WeightStorage::float16 && !std::is_same_v<T, float>)
    throw std::invalid_argument(fmt::format("PerformerDecoder: float16 weight storage is for a float decoder; this "
                                            "one computes in {} (use float32 storage)",
                                            std::is_same_v<T, double> ? "double" : "another type"));
  if (!model.supports_recurrent_generation())
    throw std::invalid_argument(fmt::format("{} (attention '{}', causal {})", kernel_refusal,
                                            attention_kernel_name(config_.attention), config_.causal));
  if (rows == 0) throw std::invalid_argument("PerformerDecoder: rows must be positive");
  const PerformerStack<T>& stack = model.stack();
  vocab_ = config_.vocab;
  D_ = config_.width;
  H_ = config_.heads;
  d_ = D_ / H_;
  F_ = config_.ff_hidden;
  const MultiHeadAttention<T>& first = stack.block(0).attention();
  m_ = first.projection().size(0);
  M_ = first.initial_state(1).favor.features;
  for (std::size_t l = 0; l < stack.depth(); ++l) {
    const PerformerBlock<T>& block = stack.block(l);
    const MultiHeadAttention<T>& a = block.attention();
    Layer layer;
    // The q, k, v weights [D, D] stacked into one [3D, D], then stored transposed as every weight.
    Array<T> qkv = empty_array<T>({3 * D_, D_});
    layer.qkv_bias = filled_array<T>({3 * D_}, T(0));
    const Linear<T>* projections[3] = {&a.q_projection(), &a.k_projection(), &a.v_projection()};
    for (std::size_t p = 0; p < 3; ++p) {
      std::copy_n(projections[p]->weight().data(), D_ * D_, qkv.data() + p * D_ * D_);
      if (projections[p]->has_bias()) std::copy_n(projections[p]->bias().data(), D_, layer.qkv_bias.data() + p * D_);
    }
    const std::string prefix = fmt::format("block {} ", l);
    layer.qkv_t = stored_panels(Tensor<T>(std::move(qkv)), prefix + "q/k/v projection weights (stacked)");
    layer.out_t = stored_panels(a.out_projection().weight(), prefix + "attention output projection weight");
    layer.ff1_t = stored_panels(block.feed_forward().layers().at(0).weight(), prefix + "feed-forward weight 1");
    layer.ff2_t = stored_panels(block.feed_forward().layers().at(1).weight(), prefix + "feed-forward weight 2");
    layer.projection_t = stored_panels(a.projection(), prefix + "random feature projection");
    layer.state.assign(rows * H_ * M_ * (d_ + 1), T(0));
    layers_.push_back(std::move(layer));
  }
  head_t_ = stored_panels(model.head_weight(), "logits head weight");
  positions_.assign(rows, 0);
  phase_flags_ = std::make_unique<std::atomic<int>[]>(3 * (5 * layers_.size() + 1));
  x_.assign(rows * D_, T(0));
  normed_.assign(2 * rows * D_, T(0));  // one per half (step_phase)
  qkv_.assign(rows * 3 * D_, T(0));
  heads_.assign(rows * D_, T(0));
  hidden_.assign(rows * F_, T(0));
  logits_.assign(rows * vocab_, T(0));
  qf_.assign(rows * H_ * M_, T(0));
  kf_.assign(rows * H_ * M_, T(0));
  u_.assign(rows * 2 * H_ * m_, T(0));
  read_.assign(rows * H_ * (d_ + 1), T(0));  // per slice: slices of one row may run on two threads
}

template <class T>
void PerformerDecoder<T>::reset_row(std::size_t row) {
  if (row >= rows_) throw std::invalid_argument(fmt::format("PerformerDecoder: row {} of {}", row, rows_));
  const std::size_t n = H_ * M_ * (d_ + 1);
  for (Layer& layer : layers_) std::fill_n(layer.state.begin() + row * n, n, T(0));
  positions_[row] = 0;
}

template <class T>
void PerformerDecoder<T>::copy_row(std::size_t from, std::size_t to) {
  if (from >= rows_ || to >= rows_)
    throw std::invalid_argument(fmt::format("PerformerDecoder: copy row {} to {} of {}", from, to, rows_));
  const std::size_t n = H_ * M_ * (d_ + 1);
  for (Layer& layer : layers_) std::copy_n(layer.state.begin() + from * n, n, layer.state.begin() + to * n);
  positions_[to] = positions_[from];
}

// The Tensor path keeps S1 = [S, z] per slice (row, head) as [M, dv + 1]; this decoder as S
// [M, dv] followed by z [M], so that S's rows are whole SIMD vectors (for dv = 32: no store
// that splits a cache line in the state pass, and no padding to stream).
template <class T>
void PerformerDecoder<T>::import_slice(const T* s1, T* slice) const {
  const std::size_t dv = d_, dv1 = d_ + 1;
  for (std::size_t m = 0; m < M_; ++m) {
    std::copy_n(s1 + m * dv1, dv, slice + m * dv);
    slice[M_ * dv + m] = s1[m * dv1 + dv];
  }
}

template <class T>
void PerformerDecoder<T>::export_slice(const T* slice, T* s1) const {
  const std::size_t dv = d_, dv1 = d_ + 1;
  for (std::size_t m = 0; m < M_; ++m) {
    std::copy_n(slice + m * dv, dv, s1 + m * dv1);
    s1[m * dv1 + dv] = slice[M_ * dv + m];
  }
}
template <class T>
void PerformerDecoder<T>::load_row(std::size_t row, const typename PerformerLM<T>::State& state, std::size_t from) {
  const std::size_t per_head = M_ * (d_ + 1);
  if (row >= rows_ || state.blocks.size() != layers_.size() || state.blocks[0].favor.slices < (from + 1) * H_ ||
      state.blocks[0].favor.features != M_ || state.blocks[0].favor.value_width != d_)
    throw std::invalid_argument(fmt::format("PerformerDecoder::load_row: row {} (of {}) from row {} of a state of {} "
                                            "layers, {} slices does not fit",
                                            row, rows_, from, state.blocks.size(),
                                            state.blocks.empty() ? 0 : state.blocks[0].favor.slices));
  for (std::size_t l = 0; l < layers_.size(); ++l)
    for (std::size_t j = 0; j < H_; ++j)
      import_slice(state.blocks[l].favor.s1.data() + (from * H_ + j) * per_head,
                   layers_[l].state.data() + (row * H_ + j) * per_head);
  positions_[row] = state.position;
}

template <class T>
Tensor<T> PerformerDecoder<T>::prefill(std::size_t row0, const Indices& ids) {
  const std::size_t B = ids.dimension() == 2 ? ids.shape()[0] : 0;
  if (B == 0 || row0 + B > rows_)
    throw std::invalid_argument(fmt::format("PerformerDecoder::prefill: ids {} for rows {} .. of {}",
                                            shape_str(to_shape(ids.shape())), row0, rows_));
  typename PerformerLM<T>::State state = model_.initial_state(B);
  // Continue from the rows' current states.
  const std::size_t per_head = M_ * (d_ + 1);
  for (std::size_t b = 0; b < B; ++b) {
    if (positions_[row0 + b] != positions_[row0])
      throw std::invalid_argument("PerformerDecoder::prefill: rows prefilled together must be at one position");
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      auto& favor = state.blocks[l].favor;
      for (std::size_t j = 0; j < H_; ++j)
        export_slice(layers_[l].state.data() + ((row0 + b) * H_ + j) * per_head,
                     favor.s1.data() + (b * H_ + j) * per_head);
      state.blocks[l].position = positions_[row0];
    }
  }
  state.position = positions_[row0];
  Tensor<T> logits = model_.prefill(ids, state);
  for (std::size_t b = 0; b < B; ++b) load_row(row0 + b, state, b);
  return logits;
}

namespace {

// NB SIMD vectors of columns of S [M, dv] (from column 0 of s, v and o): S += k' v^T, then
// o = q'^T S, in one pass over the features. Each column's sum over m stays in a register (a sum
// kept in memory would wait on its own store at every m), NB columns at once, so NB FMA chains
// overlap instead of one waiting on the last. Each column is summed in order of m whatever NB.
template <std::size_t NB, class T>
void update_and_read_columns(T* __restrict s, std::size_t dv, std::size_t M, const T* __restrict kf,
                             const T* __restrict qf, const T* __restrict v, T* __restrict o) {
  constexpr std::size_t W = Batch<T>::size;
  // Fully unrolled (GCC otherwise keeps the accumulators on the stack: a store and a reload in
  // every chain step, which measured slower than one column at a time).
  Batch<T> vb[NB], acc[NB];
#pragma GCC unroll 4
  for (std::size_t j = 0; j < NB; ++j) {
    vb[j] = Batch<T>::load_unaligned(v + j * W);
    acc[j] = Batch<T>(T(0));
  }
  for (std::size_t m = 0; m < M; ++m) {
    T* r = s + m * dv;
    const Batch<T> km(kf[m]), qm(qf[m]);
#pragma GCC unroll 4
    for (std::size_t j = 0; j < NB; ++j) {
      const Batch<T> updated = xsimd::fma(km, vb[j], Batch<T>::load_unaligned(r + j * W));
      updated.store_unaligned(r + j * W);
      acc[j] = xsimd::fma(qm, updated, acc[j]);
    }
  }
#pragma GCC unroll 4
  for (std::size_t j = 0; j < NB; ++j) acc[j].store_unaligned(o + j * W);
}

}  // namespace

// Per slice (row, head): S1 += k' [v, 1];  [num, den] = q' S1;  out = num / g(den), in one pass
// over S1 [M, dv + 1] (as favor_causal_step).
template <class T>
void PerformerDecoder<T>::update_and_read(std::size_t layer, std::size_t row, std::size_t head, const T* qf,
                                          const T* kf) {
  const std::size_t dv = d_, dv1 = d_ + 1, i = row;  // scratch rows are indexed by decoder row
  T* __restrict s = layers_[layer].state.data() + (row * H_ + head) * M_ * dv1;  // S [M, dv]
  T* __restrict z = s + M_ * dv;                                                    // z [M]
  const T* __restrict v = qkv_.data() + i * 3 * D_ + 2 * D_ + head * d_;
  T* __restrict o = read_.data() + (row * H_ + head) * dv1;
  constexpr std::size_t W = Batch<T>::size;
  std::size_t c0 = 0;
  for (; c0 + 4 * W <= dv; c0 += 4 * W) update_and_read_columns<4>(s + c0, dv, M_, kf, qf, v + c0, o + c0);
  for (; c0 + 2 * W <= dv; c0 += 2 * W) update_and_read_columns<2>(s + c0, dv, M_, kf, qf, v + c0, o + c0);
  for (; c0 + W <= dv; c0 += W) update_and_read_columns<1>(s + c0, dv, M_, kf, qf, v + c0, o + c0);
  for (std::size_t c = c0; c < dv; ++c) {  // the rest
    T acc = 0;
    for (std::size_t m = 0; m < M_; ++m) {
      T& r = s[m * dv + c];
      r += kf[m] * v[c];
      acc += qf[m] * r;
    }
    o[c] = acc;
  }
  // The denominator column (v = 1): z += k', den = q' . z, on SIMD lanes over the features.
  Batch<T> den_lanes(T(0));
  std::size_t m = 0;
  for (; m + W <= M_; m += W) {
    const Batch<T> updated = Batch<T>::load_unaligned(z + m) + Batch<T>::load_unaligned(kf + m);
    updated.store_unaligned(z + m);
    den_lanes = xsimd::fma(Batch<T>::load_unaligned(qf + m), updated, den_lanes);
  }
  T den_sum = xsimd::hadd(den_lanes);
  for (; m < M_; ++m) {
    z[m] += kf[m];
    den_sum += qf[m] * z[m];
  }
  o[dv] = den_sum;
  const T den = o[dv];
  const T floor = T(kFavorDenominatorFloor);
  const T guarded = std::abs(den) >= floor ? den : (den < 0 ? -floor : floor);
  const T inv = T(1) / guarded;
  T* out = heads_.data() + i * D_ + head * d_;
  for (std::size_t c = 0; c < dv; ++c) out[c] = o[c] * inv;
}

// FAVOR+ (positive features, query stabiliser = row max, keys unstabilised as in causal
// attention, see multihead_attention.hpp):
//   u = W x^ (x^ = x / d^{1/4}), s = |x^|^2 / 2;  q' = m^{-1/2} (exp(u - s - max u) + eps),
//   k' = m^{-1/2} exp(u - s);  then the state pass.
// Slices [s0, s1) of rows [row0, ..) (slice = row * H + head): each one's q and k rows (D apart
// in qkv), rotated for rotary positions, through the projection, the features, then the state
// pass.
template <class T>
void PerformerDecoder<T>::positive_slices(std::size_t layer, std::size_t row0, std::size_t s0, std::size_t s1) {
  const MultiHeadAttention<T>& a = model_.stack().block(layer).attention();
  const Panels& wt = layers_[layer].projection_t;
  const T norm = T(std::pow(double(d_), -0.25));
  const T half_norm_sq = norm * norm / 2;
  const T scale = T(1 / std::sqrt(double(m_))), eps = T(a.config().query_eps);
  for (std::size_t slice = s0; slice < s1; ++slice) {
    const std::size_t row = row0 + slice / H_, h = slice % H_;
    T* q = qkv_.data() + row * 3 * D_ + h * d_;
    T* k = q + D_;
    if (config_.positions == PositionKind::rotary) {
      rotate_head(q, d_, positions_[row]);
      rotate_head(k, d_, positions_[row]);
    }
    T* uq = u_.data() + (row * H_ + h) * 2 * m_;
    const T* uk = uq + m_;
    with_panels<T>(wt, [&](const auto* w) {
      affine_rows(static_cast<const T*>(q), D_, 2, d_, w, m_, static_cast<const T*>(nullptr), uq, m_);
    });
    T* qf = qf_.data() + (row * H_ + h) * M_;
    T* kf = kf_.data() + (row * H_ + h) * M_;
    const T sq = squares_about(static_cast<const T*>(q), d_, T(0));
    const T sk = squares_about(static_cast<const T*>(k), d_, T(0));
    const T c = max_of(static_cast<const T*>(uq), m_) * norm;  // norm > 0: max(u) norm = max(u norm)
    const Batch<T> b_norm(norm), b_scale(scale), b_eps(eps);
    const Batch<T> q_shift(sq * half_norm_sq + c), k_shift(sk * half_norm_sq);
    detail::simd_map_serial(static_cast<const T*>(uq), qf, m_,
                            [&](Batch<T> x) { return b_scale * (xsimd::exp(b_norm * x - q_shift) + b_eps); });
    detail::simd_map_serial(uk, kf, m_, [&](Batch<T> x) { return b_scale * xsimd::exp(b_norm * x - k_shift); });
    update_and_read(layer, row, h, qf, kf);
  }
}

template <class T>
void PerformerDecoder<T>::positive_heads(std::size_t layer, std::size_t row0, std::size_t count) {
  const std::size_t slices = count * H_, work = slices * M_ * d_;
  const auto serial = [&](std::size_t s0, std::size_t s1) { positive_slices(layer, row0, s0, s1); };
  // On 2 threads the same sticky halves as the products: each core keeps its slices' states.
  if (num_threads() == 2 && slices >= 2 && !inside_parallel_region())
    on_two_sticky_halves([&](std::size_t half) { half == 0 ? serial(0, slices / 2) : serial(slices / 2, slices); });
  else if (num_threads() > 2 && work >= (std::size_t(1) << 16))
    parallel_for(slices, [&](std::size_t s) { serial(s, s + 1); });
  else
    serial(0, slices);
}

// Other feature maps: the layer's own (Tensor ops, no tape), then the same state pass.
template <class T>
void PerformerDecoder<T>::generic_heads(std::size_t layer, std::size_t row0, std::size_t count) {
  const MultiHeadAttention<T>& a = model_.stack().block(layer).attention();
  Array<T> q = empty_array<T>({count * H_, 1, d_}), k = empty_array<T>({count * H_, 1, d_});
  for (std::size_t i = 0; i < count; ++i) {
    const T* qk = qkv_.data() + (row0 + i) * 3 * D_;
    std::copy_n(qk, D_, q.data() + i * D_);
    std::copy_n(qk + D_, D_, k.data() + i * D_);
  }
  const Tensor<T> qf = a.query_features(Tensor<T>(std::move(q))), kf = a.key_features(Tensor<T>(std::move(k)));
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t h = 0; h < H_; ++h)
      update_and_read(layer, row0 + i, h, qf.data() + (i * H_ + h) * M_, kf.data() + (i * H_ + h) * M_);
}

template <class T>
void PerformerDecoder<T>::attention(std::size_t layer, std::size_t row0, std::size_t count) {
  if (config_.attention == AttentionKernel::favor_positive) {
    positive_heads(layer, row0, count);  // rotates per slice
    return;
  }
  if (config_.positions == PositionKind::rotary)
    for (std::size_t i = row0; i < row0 + count; ++i)
      for (std::size_t h = 0; h < 2 * H_; ++h) rotate_head(qkv_.data() + i * 3 * D_ + h * d_, d_, positions_[i]);
  generic_heads(layer, row0, count);
}

// Phase p of a step over rows [row0, row0 + count): per layer (1) norm_1 and the q, k, v product,
// (2) attention, (3) x += out projection, (4) norm_2, the first feed-forward product and GELU,
// (5) x += second feed-forward product; then (6) the final norm and the logits. With halves = 2,
// `half` does its half of the phase: half of each product's panels (each half normalises the
// rows itself, into its own buffer: cheap, and no wait for it) or half of the attention slices.
template <class T>
void PerformerDecoder<T>::step_phase(std::size_t p, std::size_t half, std::size_t halves, std::size_t row0,
                                     std::size_t count) {
  constexpr std::size_t NB = kPanel<T>;
  const PerformerStack<T>& stack = model_.stack();
  T* x = x_.data() + row0 * D_;
  T* normed = normed_.data() + (half * rows_ + row0) * D_;
  // out (+)= in W^T + bias over this half's columns, returned as [n0, n1).
  const auto product = [&](const T* in, std::size_t K, const Panels& panels, std::size_t N, const T* bias, T* out,
                           bool accumulate) {
    if (halves == 1) {
      with_panels<T>(panels, [&](const auto* w) { affine_rows(in, K, count, K, w, N, bias, out, N, accumulate); });
      return std::pair<std::size_t, std::size_t>(0, N);
    }
    const std::size_t P = (N + NB - 1) / NB, split = (P / 2 + 1) / 2 * 2;
    const std::size_t p0 = half == 0 ? 0 : split, p1 = half == 0 ? split : P;
    with_panels<T>(panels,
                   [&](const auto* w) { affine_panel_range(in, K, count, K, w, N, bias, out, N, accumulate, p0, p1); });
    return std::pair<std::size_t, std::size_t>(std::min(N, p0 * NB), std::min(N, p1 * NB));
  };
  const auto bias_of = [](const Linear<T>& linear) { return linear.has_bias() ? linear.bias().data() : nullptr; };
  if (p == 5 * layers_.size()) {
    layer_norm_rows(x, count, D_, stack.final_norm(), normed);
    product(normed, D_, head_t_, vocab_, nullptr, logits_.data() + row0 * vocab_, false);
    return;
  }
  const std::size_t l = p / 5;
  const PerformerBlock<T>& block = stack.block(l);
  const Linear<T>& ff1 = block.feed_forward().layers().at(0);
  const Linear<T>& ff2 = block.feed_forward().layers().at(1);
  T* hidden = hidden_.data() + row0 * F_;
  switch (p % 5) {
    case 0:
      layer_norm_rows(x, count, D_, block.norm_1(), normed);
      product(normed, D_, layers_[l].qkv_t, 3 * D_, layers_[l].qkv_bias.data(), qkv_.data() + row0 * 3 * D_, false);
      break;
    case 1:
      if (halves == 1) attention(l, row0, count);
      else positive_slices(l, row0, half == 0 ? 0 : count * H_ / 2, half == 0 ? count * H_ / 2 : count * H_);
      break;
    case 2:
      product(heads_.data() + row0 * D_, D_, layers_[l].out_t, D_, bias_of(block.attention().out_projection()), x, true);
      break;
    case 3: {
      // Feed-forward: x += gelu(norm_2(x) W1^T + b1) W2^T + b2 (dropout is the identity here).
      layer_norm_rows(x, count, D_, block.norm_2(), normed);
      const auto [n0, n1] = product(normed, D_, layers_[l].ff1_t, F_, bias_of(ff1), hidden, false);
      for (std::size_t r = 0; r < count; ++r)
        detail::simd_map_serial(hidden + r * F_ + n0, hidden + r * F_ + n0, n1 - n0,
                                [](Batch<T> u) { return detail::gelu<T>(u); });
      break;
    }
    default:
      product(hidden, F_, layers_[l].ff2_t, D_, bias_of(ff2), x, true);
      break;
  }
}

// Scratch rows are the decoder's rows (row r of x_ belongs to row r), so stepping a sub-range
// leaves the other rows' scratch alone.
template <class T>
const T* PerformerDecoder<T>::step(const std::int64_t* tokens, std::size_t row0, std::size_t count) {
  const OpTimer timer("decoder_step");
  if (count == 0 || row0 + count > rows_)
    throw std::invalid_argument(fmt::format("PerformerDecoder::step: rows {} .. {} of {}", row0, row0 + count, rows_));
  const PerformerStack<T>& stack = model_.stack();
  const Tensor<T> table = stack.token_table(), positions = stack.position_table();
  for (std::size_t i = row0; i < row0 + count; ++i) {
    const std::int64_t token = tokens[i - row0];
    if (token < 0 || std::size_t(token) >= vocab_)
      throw std::invalid_argument(fmt::format("PerformerDecoder::step: token {} outside the vocabulary [0, {})",
                                              token, vocab_));
    const std::size_t pos = positions_[i];
    if (config_.positions == PositionKind::learned && pos >= config_.context)
      throw std::invalid_argument(fmt::format("PerformerDecoder::step: position {} is past the learned positions "
                                              "(context {})", pos, config_.context));
    T* x = x_.data() + i * D_;
    std::copy_n(table.data() + std::size_t(token) * D_, D_, x);
    if (config_.positions == PositionKind::learned) {
      for (std::size_t c = 0; c < D_; ++c) x[c] += positions.data()[pos * D_ + c];
    } else if (config_.positions == PositionKind::sinusoidal) {
      const Array<T> e = sinusoidal_encoding<T>(1, D_, pos);
      for (std::size_t c = 0; c < D_; ++c) x[c] += e.data()[c];
    }
  }
  const std::size_t phases = 5 * layers_.size() + 1;
  if (num_threads() == 2 && !inside_parallel_region() && config_.attention == AttentionKernel::favor_positive) {
    // Two halves per phase, the calling thread preferring the first; a half not yet taken by the
    // other thread is taken by whichever gets there (so a late or busy worker never stalls the
    // step), and a phase starts when both halves of the one before are done.
    for (std::size_t i = 0; i < 3 * phases; ++i) phase_flags_[i].store(0, std::memory_order_relaxed);
    const std::thread::id caller = std::this_thread::get_id();
    parallel_for(2, [&](std::size_t) {
      const std::size_t mine = std::this_thread::get_id() == caller ? 0 : 1;
      for (std::size_t p = 0; p < phases; ++p) {
        std::atomic<int>* flags = phase_flags_.get() + 3 * p;  // claimed half 0, claimed half 1, done
        for (const std::size_t half : {mine, 1 - mine})
          if (flags[half].exchange(1, std::memory_order_acq_rel) == 0) {
            step_phase(p, half, 2, row0, count);
            flags[2].fetch_add(1, std::memory_order_acq_rel);
          }
        wait_until([&] { return flags[2].load(std::memory_order_acquire) == 2; });
      }
    });
  } else {
    for (std::size_t p = 0; p < phases; ++p) step_phase(p, 0, 1, row0, count);
  }
  T* logits = logits_.data() + row0 * vocab_;
  for (std::size_t i = row0; i < row0 + count; ++i) ++positions_[i];
  return logits;
}

template class PerformerDecoder<float>;
template class PerformerDecoder<double>;

}  // namespace pf
