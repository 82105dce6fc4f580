#include "layers/attention/favor_attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/kernels/gemm.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/kernels/row_math.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {
namespace {

// Geometry shared by all forms: N slices of [L, M] / [L, dv], and the key padding mask rows.
struct FavorPlan {
  std::size_t slices = 0, len = 0, features = 0, dv = 0, dv1 = 0;
  const std::uint8_t* mask = nullptr;  // [mask_rows, L] or null
  std::size_t slices_per_mask_row = 1;
  Shape out_shape;

  const std::uint8_t* mask_row(std::size_t slice) const {
    return mask ? mask + (slice / slices_per_mask_row) * len : nullptr;
  }
};

FavorPlan plan_favor(const char* op, const Shape& qs, const Shape& ks, const Shape& vs, const Mask* mask) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("{}: q' {}, k' {}, v {} {}", op, shape_str(qs), shape_str(ks),
                                             shape_str(vs), why));
  };
  if (qs.size() < 2 || ks.size() < 2 || vs.size() < 2) throw fail("need [..., L, M] and [..., L, dv]");
  if (qs != ks) throw fail("q' and k' must have the same shape");
  if (vs.size() != qs.size() || !std::equal(qs.begin(), qs.end() - 1, vs.begin()))
    throw fail("v must match q' on every axis but the last");
  FavorPlan p;
  p.len = qs[qs.size() - 2];
  p.features = qs.back();
  p.dv = vs.back();
  p.dv1 = p.dv + 1;
  const Shape lead(qs.begin(), qs.end() - 2);
  p.slices = shape_numel(lead);
  p.out_shape = vs;
  if (mask) {
    const Shape ms = to_shape(mask->shape());
    const Shape mlead(ms.begin(), ms.empty() ? ms.end() : ms.end() - 1);
    if (ms.empty() || ms.back() != p.len || mlead.size() > lead.size() ||
        !std::equal(mlead.begin(), mlead.end(), lead.begin()))
      throw std::invalid_argument(fmt::format(
          "{}: key padding mask {} must be [lead..., L] with lead a prefix of q' {}'s leading axes", op,
          shape_str(ms), shape_str(qs)));
    p.mask = mask->data();
    p.slices_per_mask_row = p.slices / std::max<std::size_t>(shape_numel(mlead), 1);
  }
  return p;
}

// Slices (batch x head) are the parallel unit: the per-token loops and a chunk's small GEMMs
// are too small to split, and slices write disjoint memory.
template <class F>
void for_each_slice(std::size_t slices, F fn) {
  parallel_for(slices, [&](std::size_t s) { fn(s); });
}

template <class T>
T guarded(T den) {
  const T floor = T(kFavorDenominatorFloor);
  if (std::abs(den) >= floor) return den;
  return den < 0 ? -floor : floor;
}

// Per-slice operands: V1 = [V, 1] and K' with padded rows (of both) zeroed.
template <class T>
struct SliceInputs {
  Array<T> v1, k_masked;
  const T* q = nullptr;
  const T* k = nullptr;  // k' or k_masked

  void load(const FavorPlan& p, const Tensor<T>& qt, const Tensor<T>& kt, const Tensor<T>& vt, std::size_t s) {
    const std::size_t lm = p.len * p.features;
    q = qt.data() + s * lm;
    k = kt.data() + s * lm;
    if (v1.size() != p.len * p.dv1) v1 = empty_array<T>({p.len, p.dv1});
    const T* vs = vt.data() + s * p.len * p.dv;
    const std::uint8_t* pad = p.mask_row(s);
    for (std::size_t i = 0; i < p.len; ++i) {
      const bool keep = !pad || !pad[i];
      T* row = v1.data() + i * p.dv1;
      for (std::size_t c = 0; c < p.dv; ++c) row[c] = keep ? vs[i * p.dv + c] : T(0);
      row[p.dv] = keep ? T(1) : T(0);
    }
    if (pad) {
      if (k_masked.size() != lm) k_masked = empty_array<T>({p.len, p.features});
      for (std::size_t i = 0; i < p.len; ++i)
        for (std::size_t m = 0; m < p.features; ++m)
          k_masked.data()[i * p.features + m] = pad[i] ? T(0) : k[i * p.features + m];
      k = k_masked.data();
    }
  }
};

// out_i = o1_i[:dv] / g(den_i), den_i = o1_i[dv], for n rows.
template <class T>
void finish_rows(const T* o1, std::size_t n, const FavorPlan& p, T* out, T* den) {
  for (std::size_t i = 0; i < n; ++i) {
    const T d = o1[i * p.dv1 + p.dv];
    den[i] = d;
    const T inv = T(1) / guarded(d);
    for (std::size_t c = 0; c < p.dv; ++c) out[i * p.dv + c] = o1[i * p.dv1 + c] * inv;
  }
}

// dnum_i = G_i / g(den_i);  dden_i = -(G_i . out_i) / g(den_i) (0 where the floor is active).
// Written as one [L, dv+1] matrix dnum1 = [dnum, dden].
template <class T>
void output_grads(const T* g, const T* out, const T* den, const FavorPlan& p, T* dnum1) {
  for (std::size_t i = 0; i < p.len; ++i) {
    const T gd = guarded(den[i]);
    const T inv = T(1) / gd;
    T dot = 0;
    for (std::size_t c = 0; c < p.dv; ++c) {
      dnum1[i * p.dv1 + c] = g[i * p.dv + c] * inv;
      dot += g[i * p.dv + c] * out[i * p.dv + c];
    }
    dnum1[i * p.dv1 + p.dv] = gd == den[i] ? -dot * inv : T(0);
  }
}

// Which inputs want gradients, and their buffers.
template <class T>
struct GradTargets {
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
  GradTargets(Node<T>& nq, Node<T>& nk, Node<T>& nv) {
    if (nq.requires_grad) dq = nq.grad_buffer().data();
    if (nk.requires_grad) dk = nk.grad_buffer().data();
    if (nv.requires_grad) dv = nv.grad_buffer().data();
  }
};

// Zero the gradient rows of padded keys (their k' never entered the attention).
template <class T>
void zero_padded_rows(T* dk, const std::uint8_t* pad, const FavorPlan& p) {
  if (!dk || !pad) return;
  for (std::size_t i = 0; i < p.len; ++i)
    if (pad[i]) std::fill(dk + i * p.features, dk + (i + 1) * p.features, T(0));
}

}  // namespace

// ---- bidirectional -------------------------------------------------------------------------
// Forward: S1 = K'^T V1 [M, dv+1]; O1 = Q' S1 = [num, den]; out = num / den.
// Backward with dnum1 = [dnum, dden]:  dQ' = dnum1 S1^T;  dS1 = Q'^T dnum1;
//   dK' = V1 dS1^T (this is V dS^T + 1 dz^T);  dV = K' dS  (dS = dS1 without its last column).
template <class T>
Tensor<T> favor_bidirectional(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding) {
  const FavorPlan p = plan_favor("favor_bidirectional", q.shape(), k.shape(), v.shape(), key_padding);
  const int L = int(p.len), M = int(p.features), dv1 = int(p.dv1);
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  Array<T> s1 = empty_array<T>({p.slices, p.features, p.dv1});
  if (L > 0) for_each_slice(p.slices, [&](std::size_t s) {
    Array<T> o1 = empty_array<T>({p.len, p.dv1});
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    T* s1s = s1.data() + s * p.features * p.dv1;
    gemm<T>(true, false, M, dv1, L, T(1), in.k, M, in.v1.data(), dv1, T(0), s1s, dv1);
    gemm<T>(false, false, L, dv1, M, T(1), in.q, M, s1s, dv1, T(0), o1.data(), dv1);
    finish_rows(o1.data(), p.len, p, out.data() + s * p.len * p.dv, den.data() + s * p.len);
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  std::shared_ptr<Mask> mask = key_padding ? std::make_shared<Mask>(*key_padding) : nullptr;
  return make_result<T>(std::move(out), "favor_bidirectional", {q, k, v},
                        [nq, nk, nv, p, den = std::move(den), s1 = std::move(s1), mask](const Array<T>& g, const Array<T>& out) {
    FavorPlan pp = p;
    pp.mask = mask ? mask->data() : nullptr;
    const int L = int(p.len), M = int(p.features), dv = int(p.dv), dv1 = int(p.dv1);
    if (L == 0) return;
    GradTargets<T> t(*nq, *nk, *nv);
    const Tensor<T> qt(nq), kt(nk), vt(nv);
    for_each_slice(p.slices, [&](std::size_t s) {
      Array<T> dnum1 = empty_array<T>({p.len, p.dv1});
      Array<T> ds1 = empty_array<T>({p.features, p.dv1});
      SliceInputs<T> in;
      in.load(pp, qt, kt, vt, s);
      const std::size_t lm = p.len * p.features, ld = p.len * p.dv;
      output_grads(g.data() + s * ld, out.data() + s * ld, den.data() + s * p.len, pp, dnum1.data());
      const T* s1s = s1.data() + s * p.features * p.dv1;
      if (t.dq) gemm<T>(false, true, L, M, dv1, T(1), dnum1.data(), dv1, s1s, dv1, T(1), t.dq + s * lm, M);
      if (!t.dk && !t.dv) return;
      gemm<T>(true, false, M, dv1, L, T(1), in.q, M, dnum1.data(), dv1, T(0), ds1.data(), dv1);
      if (t.dk) gemm<T>(false, true, L, M, dv1, T(1), in.v1.data(), dv1, ds1.data(), dv1, T(1), t.dk + s * lm, M);
      if (t.dv) gemm<T>(false, false, L, dv, M, T(1), in.k, M, ds1.data(), dv1, T(1), t.dv + s * ld, dv);
    });
  });
}

// ---- causal, per token ---------------------------------------------------------------------
// Forward, per token i: S1 += K'_i^T V1_i (rank 1), o1_i = Q'_i S1, fused in one pass over S1.
// Backward (never stores the L states):
//   forward sweep:  S1 += K'_i^T V1_i;  dQ'_i = dnum1_i S1^T
//   reverse sweep:  R1 += Q'_i^T dnum1_i;  dK'_i = R1 V1_i^T (= R_i V_i + r_i);  dV_i = R^T K'_i
template <class T>
Tensor<T> favor_causal(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding) {
  const FavorPlan p = plan_favor("favor_causal", q.shape(), k.shape(), v.shape(), key_padding);
  const std::size_t M = p.features, dv1 = p.dv1;
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  for_each_slice(p.slices, [&](std::size_t s) {
    Array<T> s1 = filled_array<T>({p.features, p.dv1}, T(0));
    Array<T> o1 = empty_array<T>({p.dv1});
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    for (std::size_t i = 0; i < p.len; ++i) {
      const T* qi = in.q + i * M;
      const T* ki = in.k + i * M;
      const T* vi = in.v1.data() + i * dv1;
      T* o = o1.data();
      std::fill(o, o + dv1, T(0));
      for (std::size_t m = 0; m < M; ++m) {
        T* row = s1.data() + m * dv1;
        const T km = ki[m], qm = qi[m];
        for (std::size_t c = 0; c < dv1; ++c) {
          row[c] += km * vi[c];
          o[c] += qm * row[c];
        }
      }
      finish_rows(o, 1, p, out.data() + (s * p.len + i) * p.dv, den.data() + s * p.len + i);
    }
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  std::shared_ptr<Mask> mask = key_padding ? std::make_shared<Mask>(*key_padding) : nullptr;
  return make_result<T>(std::move(out), "favor_causal", {q, k, v},
                        [nq, nk, nv, p, den = std::move(den), mask](const Array<T>& g, const Array<T>& out) {
    FavorPlan pp = p;
    pp.mask = mask ? mask->data() : nullptr;
    const std::size_t M = p.features, dv = p.dv, dv1 = p.dv1;
    GradTargets<T> t(*nq, *nk, *nv);
    const Tensor<T> qt(nq), kt(nk), vt(nv);
    for_each_slice(p.slices, [&](std::size_t s) {
      Array<T> dnum1 = empty_array<T>({p.len, p.dv1});
      Array<T> state = empty_array<T>({p.features, p.dv1});
      SliceInputs<T> in;
      in.load(pp, qt, kt, vt, s);
      const std::size_t lm = p.len * M, ld = p.len * dv;
      output_grads(g.data() + s * ld, out.data() + s * ld, den.data() + s * p.len, pp, dnum1.data());
      if (t.dq) {  // forward sweep: rebuild S1_i, dQ'_i[m] = S1_i[m] . dnum1_i
        std::fill(state.begin(), state.end(), T(0));
        for (std::size_t i = 0; i < p.len; ++i) {
          const T* ki = in.k + i * M;
          const T* vi = in.v1.data() + i * dv1;
          const T* dn = dnum1.data() + i * dv1;
          T* dqi = t.dq + s * lm + i * M;
          for (std::size_t m = 0; m < M; ++m) {
            T* row = state.data() + m * dv1;
            const T km = ki[m];
            for (std::size_t c = 0; c < dv1; ++c) row[c] += km * vi[c];
            dqi[m] += detail::row_dot(row, dn, dv1);
          }
        }
      }
      if (t.dk || t.dv) {  // reverse sweep: R1_j = sum_{i>=j} Q'_i^T dnum1_i
        std::fill(state.begin(), state.end(), T(0));
        for (std::size_t i = p.len; i-- > 0;) {
          const T* qi = in.q + i * M;
          const T* ki = in.k + i * M;
          const T* vi = in.v1.data() + i * dv1;
          const T* dn = dnum1.data() + i * dv1;
          T* dki = t.dk ? t.dk + s * lm + i * M : nullptr;
          T* dvi = t.dv ? t.dv + s * ld + i * dv : nullptr;
          for (std::size_t m = 0; m < M; ++m) {
            T* row = state.data() + m * dv1;
            const T qm = qi[m], km = ki[m];
            for (std::size_t c = 0; c < dv1; ++c) row[c] += qm * dn[c];
            if (dki) dki[m] += detail::row_dot(row, vi, dv1);
            if (dvi)
              for (std::size_t c = 0; c < dv; ++c) dvi[c] += km * row[c];
          }
        }
        zero_padded_rows(t.dk ? t.dk + s * lm : nullptr, pp.mask_row(s), p);
      }
    });
  });
}

// ---- causal, chunked -----------------------------------------------------------------------
// Block b (rows t0..t1, n = t1 - t0), carried state S1 = sum over earlier blocks of K'^T V1:
//   forward:   O1_b = Q'_b S1 + tril(Q'_b K'_b^T) V1_b;   S1 += K'_b^T V1_b
//   backward, forward sweep:  dQ'_b = dnum1_b S1^T (+ intra part below);  S1 += K'_b^T V1_b
//   backward, reverse sweep with R1 = sum over later blocks of Q'^T dnum1, P = tril(dnum1_b V1_b^T),
//   A = tril(Q'_b K'_b^T):
//     dQ'_b += P K'_b;  dK'_b = P^T Q'_b + V1_b R1^T;  dV_b = A^T dnum_b + K'_b R;  R1 += Q'_b^T dnum1_b
namespace {

// Zero the strictly upper triangle (j > i) of an n x n row-major block.
template <class T>
void keep_lower_triangle(T* a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) std::fill(a + i * n + i + 1, a + (i + 1) * n, T(0));
}

}  // namespace

template <class T>
Tensor<T> favor_causal_chunked(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding,
                               std::size_t chunk) {
  const FavorPlan p = plan_favor("favor_causal_chunked", q.shape(), k.shape(), v.shape(), key_padding);
  if (chunk == 0) throw std::invalid_argument("favor_causal_chunked: chunk must be positive");
  const int M = int(p.features), dv1 = int(p.dv1);
  const std::size_t C = std::min(chunk, std::max<std::size_t>(p.len, 1));
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  for_each_slice(p.slices, [&](std::size_t s) {
    Array<T> s1 = filled_array<T>({p.features, p.dv1}, T(0));
    Array<T> o1 = empty_array<T>({C, p.dv1});
    Array<T> a = empty_array<T>({C, C});
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    for (std::size_t t0 = 0; t0 < p.len; t0 += C) {
      const int n = int(std::min(C, p.len - t0));
      const T* qb = in.q + t0 * M;
      const T* kb = in.k + t0 * M;
      const T* vb = in.v1.data() + t0 * dv1;
      gemm<T>(false, false, n, dv1, M, T(1), qb, M, s1.data(), dv1, T(0), o1.data(), dv1);
      gemm<T>(false, true, n, n, M, T(1), qb, M, kb, M, T(0), a.data(), n);
      keep_lower_triangle(a.data(), std::size_t(n));
      gemm<T>(false, false, n, dv1, n, T(1), a.data(), n, vb, dv1, T(1), o1.data(), dv1);
      gemm<T>(true, false, M, dv1, n, T(1), kb, M, vb, dv1, T(1), s1.data(), dv1);
      finish_rows(o1.data(), std::size_t(n), p, out.data() + (s * p.len + t0) * p.dv, den.data() + s * p.len + t0);
    }
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  std::shared_ptr<Mask> mask = key_padding ? std::make_shared<Mask>(*key_padding) : nullptr;
  return make_result<T>(std::move(out), "favor_causal_chunked", {q, k, v},
                        [nq, nk, nv, p, den = std::move(den), mask, C](const Array<T>& g, const Array<T>& out) {
    FavorPlan pp = p;
    pp.mask = mask ? mask->data() : nullptr;
    const int M = int(p.features), dv = int(p.dv), dv1 = int(p.dv1);
    GradTargets<T> t(*nq, *nk, *nv);
    const Tensor<T> qt(nq), kt(nk), vt(nv);
    for_each_slice(p.slices, [&](std::size_t s) {
      Array<T> dnum1 = empty_array<T>({p.len, p.dv1});
      Array<T> state = empty_array<T>({p.features, p.dv1});
      Array<T> pm = empty_array<T>({C, C});
      Array<T> a = empty_array<T>({C, C});
      SliceInputs<T> in;
      in.load(pp, qt, kt, vt, s);
      const std::size_t lm = p.len * p.features, ld = p.len * p.dv;
      output_grads(g.data() + s * ld, out.data() + s * ld, den.data() + s * p.len, pp, dnum1.data());
      if (t.dq) {  // forward sweep: the cross-block part of dQ'
        std::fill(state.begin(), state.end(), T(0));
        for (std::size_t t0 = 0; t0 < p.len; t0 += C) {
          const int n = int(std::min(C, p.len - t0));
          gemm<T>(false, true, n, M, dv1, T(1), dnum1.data() + t0 * dv1, dv1, state.data(), dv1, T(1),
                  t.dq + s * lm + t0 * M, M);
          gemm<T>(true, false, M, dv1, n, T(1), in.k + t0 * M, M, in.v1.data() + t0 * dv1, dv1, T(1),
                  state.data(), dv1);
        }
      }
      // Reverse sweep: intra-block parts of all three, cross-block parts of dK', dV.
      std::fill(state.begin(), state.end(), T(0));
      const std::size_t blocks = (p.len + C - 1) / C;
      for (std::size_t b = blocks; b-- > 0;) {
        const std::size_t t0 = b * C;
        const int n = int(std::min(C, p.len - t0));
        const T* qb = in.q + t0 * M;
        const T* kb = in.k + t0 * M;
        const T* vb = in.v1.data() + t0 * dv1;
        const T* dnb = dnum1.data() + t0 * dv1;
        if (t.dq || t.dk) {
          gemm<T>(false, true, n, n, dv1, T(1), dnb, dv1, vb, dv1, T(0), pm.data(), n);
          keep_lower_triangle(pm.data(), std::size_t(n));
        }
        if (t.dq) gemm<T>(false, false, n, M, n, T(1), pm.data(), n, kb, M, T(1), t.dq + s * lm + t0 * M, M);
        if (t.dk) {
          T* dkb = t.dk + s * lm + t0 * M;
          gemm<T>(true, false, n, M, n, T(1), pm.data(), n, qb, M, T(1), dkb, M);
          gemm<T>(false, true, n, M, dv1, T(1), vb, dv1, state.data(), dv1, T(1), dkb, M);
        }
        if (t.dv) {
          T* dvb = t.dv + s * ld + t0 * p.dv;
          gemm<T>(false, true, n, n, M, T(1), qb, M, kb, M, T(0), a.data(), n);
          keep_lower_triangle(a.data(), std::size_t(n));
          gemm<T>(true, false, n, dv, n, T(1), a.data(), n, dnb, dv1, T(1), dvb, dv);
          gemm<T>(false, false, n, dv, M, T(1), kb, M, state.data(), dv1, T(1), dvb, dv);
        }
        if (b > 0 && (t.dk || t.dv)) gemm<T>(true, false, M, dv1, n, T(1), qb, M, dnb, dv1, T(1), state.data(), dv1);
      }
      zero_padded_rows(t.dk ? t.dk + s * lm : nullptr, pp.mask_row(s), p);
    });
  });
}

// ---- naive twins (primitive ops, for tests) -------------------------------------------------
// Causal: states S_i = cumsum_i(K'_i^T V_i) [.., L, M, dv], z_i = cumsum_i K'_i;
// num_i = Q'_i S_i, den_i = Q'_i . z_i.
template <class T>
Tensor<T> favor_causal_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) {
  plan_favor("favor_causal_naive", q.shape(), k.shape(), v.shape(), nullptr);
  Shape ks = k.shape(), vs = v.shape(), qs = q.shape();
  Shape k_col = ks, v_row = vs, q_row = qs;
  k_col.push_back(1);                                // [.., L, M, 1]
  v_row.insert(v_row.end() - 1, 1);                  // [.., L, 1, dv]
  q_row.insert(q_row.end() - 1, 1);                  // [.., L, 1, M]
  const int len_axis = int(qs.size()) - 2;
  Tensor<T> states = cumsum(mul(reshape(k, k_col), reshape(v, v_row)), len_axis);  // [.., L, M, dv]
  Tensor<T> num = reshape(matmul(reshape(q, q_row), states), vs);
  Tensor<T> z = cumsum(k, len_axis);
  Tensor<T> den = sum(mul(q, z), -1, true);
  return div(num, den);
}

template <class T>
Tensor<T> favor_bidirectional_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) {
  plan_favor("favor_bidirectional_naive", q.shape(), k.shape(), v.shape(), nullptr);
  Tensor<T> num = matmul(q, matmul(k, v, true, false));
  Tensor<T> den = sum(mul(q, sum(k, -2, true)), -1, true);
  return div(num, den);
}

// ---- recurrent step ------------------------------------------------------------------------
template <class T>
FavorCausalState<T>::FavorCausalState(std::size_t n, std::size_t m, std::size_t dv)
    : slices(n), features(m), value_width(dv), s1(filled_array<T>({n, m, dv + 1}, T(0))) {}

template <class T>
void FavorCausalState<T>::reset() {
  std::fill(s1.begin(), s1.end(), T(0));
  steps = 0;
}

template <class T>
void FavorCausalState<T>::rescale(std::size_t slice, T factor) {
  const std::size_t size = features * (value_width + 1);
  T* base = s1.data() + slice * size;
  for (std::size_t i = 0; i < size; ++i) base[i] *= factor;
}

// S1 += K'^T V1 (rank 1);  [num, den] = Q' S1;  out = num / den.
template <class T>
Tensor<T> favor_causal_step(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, FavorCausalState<T>& state,
                            const std::uint8_t* key_padded) {
  const std::size_t M = state.features, dv = state.value_width, dv1 = dv + 1, N = state.slices;
  if (q.shape() != k.shape() || q.numel() != N * M || v.numel() != N * dv || q.dim() == 0 || q.size(-1) != M ||
      v.size(-1) != dv)
    throw std::invalid_argument(fmt::format("favor_causal_step: q' {}, k' {}, v {} do not fit a state of {} slices, "
                                            "M = {}, dv = {}",
                                            shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()), N, M, dv));
  Array<T> out = empty_array<T>(v.shape());
  std::vector<T> o(dv1);
  for (std::size_t s = 0; s < N; ++s) {
    const T* qs = q.data() + s * M;
    const T* ks = k.data() + s * M;
    const T* vs = v.data() + s * dv;
    const bool keep = !key_padded || !key_padded[s];
    std::fill(o.begin(), o.end(), T(0));
    for (std::size_t m = 0; m < M; ++m) {
      T* row = state.s1.data() + (s * M + m) * dv1;
      if (keep) {
        for (std::size_t c = 0; c < dv; ++c) row[c] += ks[m] * vs[c];
        row[dv] += ks[m];
      }
      for (std::size_t c = 0; c < dv1; ++c) o[c] += qs[m] * row[c];
    }
    const T inv = T(1) / guarded(o[dv]);
    for (std::size_t c = 0; c < dv; ++c) out.data()[s * dv + c] = o[c] * inv;
  }
  ++state.steps;
  return Tensor<T>(std::move(out));
}

#define PF_INSTANTIATE(T)                                                                                      \
  template Tensor<T> favor_bidirectional<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Mask*); \
  template Tensor<T> favor_causal<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Mask*);        \
  template Tensor<T> favor_causal_chunked<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Mask*, \
                                             std::size_t);                                                     \
  template Tensor<T> favor_causal_naive<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);              \
  template Tensor<T> favor_bidirectional_naive<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);       \
  template struct FavorCausalState<T>;                                                                         \
  template Tensor<T> favor_causal_step<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&,                \
                                          FavorCausalState<T>&, const std::uint8_t*);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
