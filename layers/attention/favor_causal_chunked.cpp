// FAVOR+ causal, chunked: the per-token prefix sums of favor_causal.cpp regrouped into blocks of
// C tokens, so the work is GEMMs: inside a block the masked Q'_b K'_b^T is exact, across blocks
// the state S1 = [S, z] is carried. Same outputs as favor_causal, equally memory-efficient.
// Derivation: docs/DERIVATIONS.md#favor-causal-chunked
// Checked by tests/layers/attention/test_favor_attention.cpp: "favor causal: chunked equals
// per-token for every chunk size", "favor attention: gradcheck, several shapes, with and without
// padding" and "favor attention: fused backward equals autodiff through primitives".
//
// Block b holds rows t0 .. t0+n (n <= C); "_b" is that block's rows of a slice's matrix.
#include <stdexcept>

#include <fmt/format.h>

#include "layers/attention/favor_plan.hpp"

#include "engine/kernels/small_gemm.hpp"
#include "engine/kernels/transpose.hpp"

#include "engine/core/profiler.hpp"

namespace pf {
using namespace favor;
namespace {

// The per-block products are small ([C x M] x [M x dv+1] with C ~ 32): they go to small_gemm
// (no packing, calling thread); the known triangles of the masked blocks are skipped there.
constexpr Zeros kLower = Zeros::above_diagonal;  // tril(...) as op(A)
constexpr Zeros kUpper = Zeros::below_diagonal;  // tril(...)^T as op(A)

// C = beta C + A B, beta 0 (C fresh: not read) or 1. With b_zero (B a state before any block:
// all zeros) the product is skipped, and only a fresh C is written, with zeros.
template <class T>
void small_gemm_beta(MatView<T> c, MatView<const T> a, MatView<const T> b, T beta, bool b_zero = false) {
  if (b_zero) {
    if (beta == T(0))
      for (int i = 0; i < c.rows; ++i) std::fill(c.row(i), c.row(i) + c.cols, T(0));
    return;
  }
  if (beta == T(0))
    small_gemm_set(c, a, b);
  else
    small_gemm_acc(c, a, b);
}

// The right operand Y of the masked score products tril(X_b Y_b^T) [n, n] (into a scratch).
// Read as stored, each score is a dot product of two rows, ending in a reduction across a
// vector, with a scalar tail when Y's width is not a whole number of vectors. Transposed once per
// slice, Y^T [cols, L] is read by rows in the row kernel, with neither. Worth its cost for V1
// (dv + 1 columns) and for K' up to M = 64, not for K' at M = 256 (measured: docs/PERFORMANCE.md,
// "The Zen 5 (2026-12-05, a third session)").
constexpr int kScoresByRowsMaxFeatures = 64;

template <class T>
struct ScoreOperand {
  MatView<const T> y;
  Array<T> yt_store;  // Y^T, when transposed
  MatView<const T> yt;

  ScoreOperand(MatView<const T> y_, bool transpose) : y(y_) {
    if (!transpose) return;
    yt_store = empty_array<T>({std::size_t(y.cols), std::size_t(y.rows)});
    yt = mat<const T>(yt_store.data(), std::size_t(y.cols), std::size_t(y.rows));
    transpose_into(mat(yt_store.data(), std::size_t(y.cols), std::size_t(y.rows)), y);
  }

  // tril(X_b Y_b^T) for the block of rows t0 .. t0 + n.
  MatView<T> masked_scores(Array<T>& a, MatView<const T> x_b, std::size_t t0) const {
    const std::size_t n = std::size_t(x_b.rows);
    const MatView<T> view = mat(a.data(), n, n);
    small_gemm_tril(view, x_b, yt.data ? yt.col_block(t0, n) : y.row_block(t0, n).T());
    return view;
  }
};

// Forward of one slice (one of N = B*H), shapes per slice:
//   in:  Q' [L, M], K' [L, M], V1 = [V, 1] [L, dv+1]
//   out: out [L, dv], den [L] (saved for backward, with Q', K', V)
// Per block, with the carried state s1 = S1 [M, dv+1] (sum over earlier blocks of K'^T V1; zero
// at the start in training, the state of the tokens before in a prefill):
//   O1_b = Q'_b S1 + tril(Q'_b K'_b^T) V1_b = [num_b, den_b];  S1 += K'_b^T V1_b.
// In training S1 starts at zero and the state after the last block is not used: the first
// block's Q'_b S1 and the last update are skipped. A prefill starts from s1 and leaves in it the
// state after the slice's last token.
enum class StateUse { training, prefill };

template <class T>
void favor_chunked_forward(const FavorPlan& p, std::size_t C, const SliceInputs<T>& in, MatView<T> s1, T* out,
                           T* den, StateUse use) {
  Array<T> o1 = empty_array<T>({C, p.dv1});
  Array<T> a = empty_array<T>({C, C});
  const ScoreOperand<T> k_scores(in.k, int(p.features) <= kScoresByRowsMaxFeatures);
  for (std::size_t t0 = 0; t0 < p.len; t0 += C) {
    const std::size_t n = std::min(C, p.len - t0);
    const auto q_b = in.q.row_block(t0, n), k_b = in.k.row_block(t0, n), v1_b = in.v1.row_block(t0, n);
    const MatView<T> o1_b = mat(o1.data(), n, p.dv1);
    small_gemm_beta(o1_b, q_b, MatView<const T>(s1), T(0), t0 == 0 && use == StateUse::training);
    small_gemm_acc(o1_b, k_scores.masked_scores(a, q_b, t0), v1_b, kLower);
    if (t0 + n < p.len || use == StateUse::prefill) small_gemm_acc(s1, k_b.T(), v1_b);
    finish_rows(o1.data(), n, p, out + t0 * p.dv, den + t0);
  }
}

// Backward, forward sweep (the cross-block part of dQ'), rebuilding S1^T in s1t [dv+1, M] (held
// transposed so that both products read their right operand by rows):
//   dQ'_b += dnum1_b S1^T (the first write of dQ'_b: beta as SliceGrads says; zeros or nothing in
//   the first block, where S1 is zero);  S1^T += V1_b^T K'_b (not after the last block)
template <class T>
void favor_chunked_backward_dq(const FavorPlan& p, std::size_t C, const SliceInputs<T>& in, MatView<const T> dnum1,
                               MatView<T> s1t, MatView<T> dq, T dq_beta) {
  std::fill(s1t.data, s1t.data + p.features * p.dv1, T(0));
  for (std::size_t t0 = 0; t0 < p.len; t0 += C) {
    const std::size_t n = std::min(C, p.len - t0);
    small_gemm_beta(dq.row_block(t0, n), dnum1.row_block(t0, n), MatView<const T>(s1t), dq_beta, t0 == 0);
    if (t0 + n < p.len) small_gemm_acc(s1t, in.v1.row_block(t0, n).T(), in.k.row_block(t0, n));
  }
}

// Backward, reverse sweep: intra-block parts of all three gradients, cross-block parts of dK' and
// dV. R1^T = [R, r]^T in r1t [dv+1, M] is the sum over later blocks of dnum1^T Q';
// P = tril(dnum1_b V1_b^T), A = tril(Q'_b K'_b^T) (both [n, n] scratch):
//   dQ'_b += P K'_b;  dK'_b += V1_b R1^T + P^T Q'_b;  dV_b += K'_b R + A^T dnum_b;
//   R1^T += dnum1_b^T Q'_b
// (the unmasked product comes first: it is dK'_b's and dV_b's first write, with their betas;
// in the last block, where R1 is zero, that write is zeros or nothing).
template <class T>
void favor_chunked_backward_reverse(const FavorPlan& p, std::size_t C, const SliceInputs<T>& in,
                                    MatView<const T> dnum1, MatView<T> r1t, const SliceGrads<T>& grads) {
  Array<T> pm = empty_array<T>({C, C});
  Array<T> a = empty_array<T>({C, C});
  const bool need_p = grads.dq.data || grads.dk.data;
  const ScoreOperand<T> v1_scores(in.v1, need_p);
  const ScoreOperand<T> k_scores(in.k, grads.dv.data && int(p.features) <= kScoresByRowsMaxFeatures);
  std::fill(r1t.data, r1t.data + p.features * p.dv1, T(0));
  const auto r = r1t.row_block(0, p.dv).T();  // R [M, dv]
  for (std::size_t b = (p.len + C - 1) / C; b-- > 0;) {
    const std::size_t t0 = b * C, n = std::min(C, p.len - t0);
    const bool last = t0 + n == p.len;  // no later blocks: R1 is still zero
    const auto q_b = in.q.row_block(t0, n), k_b = in.k.row_block(t0, n), v1_b = in.v1.row_block(t0, n);
    const auto dnum1_b = dnum1.row_block(t0, n);
    MatView<T> P;
    if (need_p) P = v1_scores.masked_scores(pm, dnum1_b, t0);
    if (grads.dq.data) small_gemm_acc(grads.dq.row_block(t0, n), P, k_b, kLower);
    if (grads.dk.data) {
      const auto dk_b = grads.dk.row_block(t0, n);
      small_gemm_beta(dk_b, v1_b, MatView<const T>(r1t), grads.dk_beta, last);
      small_gemm_acc(dk_b, P.T(), q_b, kUpper);
    }
    if (grads.dv.data) {
      const auto dv_b = grads.dv.row_block(t0, n);
      small_gemm_beta(dv_b, k_b, MatView<const T>(r), grads.dv_beta, last);
      small_gemm_acc(dv_b, k_scores.masked_scores(a, q_b, t0).T(), dnum1_b.col_block(0, p.dv), kUpper);
    }
    if (b > 0 && (grads.dk.data || grads.dv.data)) small_gemm_acc(r1t, dnum1_b.T(), q_b);
  }
}

// Backward of one slice: the two sweeps share one [dv+1, M] buffer (S1^T, then R1^T).
template <class T>
void favor_chunked_backward(const FavorPlan& p, std::size_t C, const SliceInputs<T>& in,
                            MatView<const T> dnum1, const SliceGrads<T>& grads) {
  Array<T> state = empty_array<T>({p.dv1, p.features});
  const MatView<T> s1t_or_r1t = mat(state.data(), p.dv1, p.features);
  if (grads.dq.data) favor_chunked_backward_dq(p, C, in, dnum1, s1t_or_r1t, grads.dq, grads.dq_beta);
  favor_chunked_backward_reverse(p, C, in, dnum1, s1t_or_r1t, grads);
}

}  // namespace

template <class T>
Tensor<T> favor_causal_chunked(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding,
                               std::size_t chunk) {
  const OpTimer timer("favor_causal_chunked");
  const FavorPlan p = plan_favor("favor_causal_chunked", q.shape(), k.shape(), v.shape(), key_padding);
  if (chunk == 0) throw std::invalid_argument("favor_causal_chunked: chunk must be positive");
  const std::size_t C = std::min(chunk, std::max<std::size_t>(p.len, 1));
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  for_each_slice(p.slices, [&](std::size_t s) {
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    Array<T> s1 = filled_array<T>({p.features, p.dv1}, T(0));
    favor_chunked_forward(p, C, in, mat(s1.data(), p.features, p.dv1), out.data() + s * p.len * p.dv,
                          den.data() + s * p.len, StateUse::training);
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  return make_result<T>(std::move(out), "favor_causal_chunked", {q, k, v},
                        [nq, nk, nv, p, C, den = std::move(den)](const Array<T>& g, const Array<T>& out) {
    for_each_backward_slice(p, nq, nk, nv, g, out, den, [&](std::size_t, const SliceInputs<T>& in,
                                                            MatView<const T> dnum1, const SliceGrads<T>& grads) {
      favor_chunked_backward(p, C, in, dnum1, grads);
    });
  });
}

// Prefill: the forward above, started from the state's S1 of each slice instead of zero, which it
// then holds for the L tokens more (so the RNN step continues where the prompt ended).
template <class T>
Tensor<T> favor_causal_prefill(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, FavorCausalState<T>& state,
                               std::size_t chunk) {
  const OpTimer timer("favor_causal_prefill");
  const FavorPlan p = plan_favor("favor_causal_prefill", q.shape(), k.shape(), v.shape(), nullptr);
  if (chunk == 0) throw std::invalid_argument("favor_causal_prefill: chunk must be positive");
  if (p.slices != state.slices || p.features != state.features || p.dv != state.value_width)
    throw std::invalid_argument(fmt::format(
        "favor_causal_prefill: q' {}, v {} ({} slices, M = {}, dv = {}) do not fit a state of {} slices, M = {}, dv = {}",
        shape_str(q.shape()), shape_str(v.shape()), p.slices, p.features, p.dv, state.slices, state.features,
        state.value_width));
  const std::size_t C = std::min(chunk, std::max<std::size_t>(p.len, 1));
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  for_each_slice(p.slices, [&](std::size_t s) {
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    const MatView<T> s1 = mat(state.s1.data() + s * p.features * p.dv1, p.features, p.dv1);
    favor_chunked_forward(p, C, in, s1, out.data() + s * p.len * p.dv, den.data() + s * p.len, StateUse::prefill);
  });
  state.steps += p.len;
  return Tensor<T>(std::move(out));
}

template Tensor<float> favor_causal_chunked<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&,
                                                   const Mask*, std::size_t);
template Tensor<double> favor_causal_chunked<double>(const Tensor<double>&, const Tensor<double>&,
                                                     const Tensor<double>&, const Mask*, std::size_t);
template Tensor<float> favor_causal_prefill<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&,
                                                   FavorCausalState<float>&, std::size_t);
template Tensor<double> favor_causal_prefill<double>(const Tensor<double>&, const Tensor<double>&,
                                                     const Tensor<double>&, FavorCausalState<double>&, std::size_t);

}  // namespace pf
