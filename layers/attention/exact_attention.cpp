#include "layers/attention/exact_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "engine/core/profiler.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/mask.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/kernels/simd.hpp"
#include "engine/ops/softmax.hpp"
#include "layers/attention/attention_slices.hpp"

namespace pf {
namespace {

struct ExactPlan {
  std::size_t slices = 0, len = 0, d = 0, dv = 0;
  bool causal = false;
  double scale = 1;
  std::size_t slices_per_mask_row = 1;
};

ExactPlan plan_exact(const Shape& qs, const Shape& ks, const Shape& vs, bool causal, const Mask* mask) {
  const AttentionSlices a = check_attention_slices("exact_attention", "q", "k", "d", qs, ks, vs, mask);
  ExactPlan p;
  p.slices = a.slices;
  p.len = a.len;
  p.d = qs.back();
  p.dv = vs.back();
  p.causal = causal;
  p.scale = 1 / std::sqrt(double(std::max<std::size_t>(p.d, 1)));
  p.slices_per_mask_row = a.slices_per_mask_row;
  return p;
}

// Scores of query rows [r0, r0+n) against keys [0, kend): S = Q K^T / sqrt(d), masked to -inf.
template <class T>
void block_scores(const ExactPlan& p, const T* q, const T* k, const std::uint8_t* pad, std::size_t r0, int n,
                  int kend, T* s) {
  gemm_set(mat(s, n, kend), mat(q, p.len, p.d).row_block(r0, n), mat(k, kend, p.d).T(), T(p.scale));
  const T neg_inf = -std::numeric_limits<T>::infinity();
  for (int i = 0; i < n; ++i) {
    T* row = s + std::size_t(i) * kend;
    if (p.causal) std::fill(row + std::min<std::size_t>(r0 + i + 1, kend), row + kend, neg_inf);
    if (pad)
      for (int j = 0; j < kend; ++j)
        if (pad[j]) row[j] = neg_inf;
  }
}

// row <- exp(row - shift) in place (vectorised); masked -inf entries become 0.
template <class T>
void exp_shifted(T* row, std::size_t n, T shift) {
  using B = detail::Batch<T>;
  const B b_shift(shift);
  detail::simd_map(row, row, n, [&](B x) { return xsimd::exp(x - b_shift); });
}

}  // namespace

// Forward per block: S = Q_b K^T / sqrt(d) (+ masks); lse_i = log sum_j e^{S_ij}; P = e^{S - lse}; O_b = P V.
// Backward per block (P recomputed from lse): dP = G_b V^T; D_i = G_i . O_i; dS = P (dP - D);
//   dQ_b = dS K / sqrt(d);  dK += dS^T Q_b / sqrt(d);  dV += P^T G_b.
template <class T>
Tensor<T> exact_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal,
                          const Mask* key_padding) {
  const OpTimer timer("exact_attention");
  const ExactPlan p = plan_exact(q.shape(), k.shape(), v.shape(), causal, key_padding);
  const std::size_t R = kExactRowBlock;
  Array<T> out = empty_array<T>(v.shape());
  Array<T> lse = empty_array<T>({p.slices, p.len});
  const T neg_inf = -std::numeric_limits<T>::infinity();
  // Slices (batch x head) run in parallel, each with its own score block.
  parallel_for(p.slices, [&](std::size_t sl) {
    Array<T> s = empty_array<T>({std::min(R, std::max<std::size_t>(p.len, 1)), std::max<std::size_t>(p.len, 1)});
    const T* qs = q.data() + sl * p.len * p.d;
    const T* ks = k.data() + sl * p.len * p.d;
    const T* vs = v.data() + sl * p.len * p.dv;
    const std::uint8_t* pad = key_padding ? key_padding->data() + (sl / p.slices_per_mask_row) * p.len : nullptr;
    for (std::size_t r0 = 0; r0 < p.len; r0 += R) {
      const int n = int(std::min(R, p.len - r0));
      const int kend = int(p.causal ? r0 + n : p.len);
      block_scores(p, qs, ks, pad, r0, n, kend, s.data());
      for (int i = 0; i < n; ++i) {
        T* row = s.data() + std::size_t(i) * kend;
        const T mx = *std::max_element(row, row + kend);
        T& l = lse.data()[sl * p.len + r0 + i];
        if (mx == neg_inf) {  // no key left: zero output
          std::fill(row, row + kend, T(0));
          l = neg_inf;
          continue;
        }
        exp_shifted(row, std::size_t(kend), mx);
        T sum = 0;
        for (int j = 0; j < kend; ++j) sum += row[j];
        const T inv = T(1) / sum;
        for (int j = 0; j < kend; ++j) row[j] *= inv;
        l = mx + std::log(sum);
      }
      // O_b = P V
      gemm_set(mat(out.data() + sl * p.len * p.dv, p.len, p.dv).row_block(r0, n), mat<const T>(s.data(), n, kend),
               mat(vs, kend, p.dv));
    }
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  std::shared_ptr<Mask> mask = key_padding ? std::make_shared<Mask>(*key_padding) : nullptr;
  return make_result<T>(std::move(out), "exact_attention", {q, k, v},
                        [nq, nk, nv, p, lse = std::move(lse), mask](const Array<T>& g, const Array<T>& out) {
    const std::size_t R = kExactRowBlock;
    if (p.len == 0) return;
    T* dq = nq->requires_grad ? nq->grad_buffer().data() : nullptr;
    T* dk = nk->requires_grad ? nk->grad_buffer().data() : nullptr;
    T* dvv = nv->requires_grad ? nv->grad_buffer().data() : nullptr;
    const std::size_t rows = std::min(R, p.len);
    const int dv = int(p.dv);
    parallel_for(p.slices, [&](std::size_t sl) {  // slices write disjoint rows of dq, dk, dv
      Array<T> pm = empty_array<T>({rows, p.len}), dp = empty_array<T>({rows, p.len});
      const T* qs = nq->value.data() + sl * p.len * p.d;
      const T* ks = nk->value.data() + sl * p.len * p.d;
      const T* vs = nv->value.data() + sl * p.len * p.dv;
      const T* gs = g.data() + sl * p.len * p.dv;
      const auto G = mat(gs, p.len, p.dv);
      const T* os = out.data() + sl * p.len * p.dv;
      const std::uint8_t* pad = mask ? mask->data() + (sl / p.slices_per_mask_row) * p.len : nullptr;
      for (std::size_t r0 = 0; r0 < p.len; r0 += R) {
        const int n = int(std::min(R, p.len - r0));
        const int kend = int(p.causal ? r0 + n : p.len);
        block_scores(p, qs, ks, pad, r0, n, kend, pm.data());
        for (int i = 0; i < n; ++i) {
          T* row = pm.data() + std::size_t(i) * kend;
          const T l = lse.data()[sl * p.len + r0 + i];
          if (std::isinf(l)) std::fill(row, row + kend, T(0));
          else exp_shifted(row, std::size_t(kend), l);
        }
        const auto P = mat<const T>(pm.data(), n, kend), G_b = G.row_block(r0, n);
        if (dvv) gemm_acc(mat(dvv + sl * p.len * p.dv, kend, p.dv), P.T(), G_b);  // dV += P^T G_b
        if (!dq && !dk) continue;
        gemm_set(mat(dp.data(), n, kend), G_b, mat(vs, kend, p.dv).T());  // dP = G_b V^T
        for (int i = 0; i < n; ++i) {
          const T* gi = gs + (r0 + i) * p.dv;
          const T* oi = os + (r0 + i) * p.dv;
          T di = 0;
          for (int c = 0; c < dv; ++c) di += gi[c] * oi[c];
          T* dpi = dp.data() + std::size_t(i) * kend;
          const T* pi = pm.data() + std::size_t(i) * kend;
          for (int j = 0; j < kend; ++j) dpi[j] = pi[j] * (dpi[j] - di);
        }
        const auto dS = mat<const T>(dp.data(), n, kend);
        if (dq)  // dQ_b = dS K / sqrt(d)
          gemm_acc(mat(dq + sl * p.len * p.d, p.len, p.d).row_block(r0, n), dS, mat(ks, kend, p.d), T(p.scale));
        if (dk)  // dK += dS^T Q_b / sqrt(d)
          gemm_acc(mat(dk + sl * p.len * p.d, kend, p.d), dS.T(), mat(qs, p.len, p.d).row_block(r0, n), T(p.scale));
      }
    });
  });
}

template <class T>
Tensor<T> exact_attention_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal,
                                const Mask* key_padding) {
  const ExactPlan p = plan_exact(q.shape(), k.shape(), v.shape(), causal, key_padding);
  Tensor<T> scores = mul_scalar(matmul(q, k, false, true), T(p.scale));
  if (causal) scores = masked_fill(scores, causal_mask(p.len), T(-1e30));
  if (key_padding) {  // [lead..., L] -> [lead..., 1.., 1, L], broadcast over heads and queries
    Shape ms = to_shape(key_padding->shape());
    ms.insert(ms.end() - 1, q.dim() - ms.size(), 1);
    Mask m = *key_padding;
    m.reshape(ms);
    scores = masked_fill(scores, m, T(-1e30));
  }
  return matmul(softmax(scores), v);
}

#define PF_INSTANTIATE(T)                                                                                       \
  template Tensor<T> exact_attention<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, bool, const Mask*); \
  template Tensor<T> exact_attention_naive<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, bool, const Mask*);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
