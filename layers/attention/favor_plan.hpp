// Internal to the FAVOR+ forms (favor_bidirectional.cpp, favor_causal.cpp,
// favor_causal_chunked.cpp, favor_reference.cpp): the geometry of a call, the per-slice operands,
// and the steps every form shares (output -> [out, den], G -> dnum1 = [dnum, dden]).
// Shapes: N = B*H slices, each q', k' [L, M] and v [L, dv]; dv1 = dv + 1 (the V1 = [V, 1] trick of
// favor_attention.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>

#include "engine/core/tensor.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/kernels/row_math.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "layers/attention/favor_attention.hpp"

namespace pf::favor {

// Geometry shared by all forms, and the key padding mask. The plan owns a copy of the mask, so a
// backward closure that captures the plan keeps its mask alive.
struct FavorPlan {
  std::size_t slices = 0, len = 0, features = 0, dv = 0, dv1 = 0;  // N, L, M, dv, dv + 1
  std::shared_ptr<const Mask> mask;                                 // [mask_rows, L] or null
  std::size_t slices_per_mask_row = 1;
  Shape out_shape;

  const std::uint8_t* mask_row(std::size_t slice) const {
    return mask ? mask->data() + (slice / slices_per_mask_row) * len : nullptr;
  }
};

// Checks q' [..., L, M], k' like q', v [..., L, dv], mask [lead..., L]; throws naming `op`.
FavorPlan plan_favor(const char* op, const Shape& qs, const Shape& ks, const Shape& vs, const Mask* mask);

// Slices (batch x head) are the parallel unit: the per-token loops and a chunk's small GEMMs
// are too small to split, and slices write disjoint memory. With fewer slices than threads
// (one long sequence, few heads) the slices run one after another and each GEMM inside splits
// over the threads instead, so no thread idles; the values are the same either way (the GEMM's
// results do not depend on its split).
template <class F>
void for_each_slice(std::size_t slices, F fn) {
  if (slices < std::size_t(num_threads())) {
    for (std::size_t s = 0; s < slices; ++s) fn(s);
    return;
  }
  parallel_for(slices, [&](std::size_t s) { fn(s); });
}

// g(den) = sign(den) max(|den|, kFavorDenominatorFloor).
template <class T>
T guarded(T den) {
  const T floor = T(kFavorDenominatorFloor);
  if (std::abs(den) >= floor) return den;
  return den < 0 ? -floor : floor;
}

// One slice's operands: Q' [L, M], K' [L, M] and V1 = [V, 1] [L, dv+1], padded rows of K' and V1
// zeroed (so a padded key leaves numerator and denominator).
template <class T>
struct SliceInputs {
  MatView<const T> q, k, v1;
  Array<T> v1_store, k_masked;

  void load(const FavorPlan& p, const Tensor<T>& qt, const Tensor<T>& kt, const Tensor<T>& vt, std::size_t s) {
    const std::size_t lm = p.len * p.features;
    q = mat(qt.data() + s * lm, p.len, p.features);
    k = mat(kt.data() + s * lm, p.len, p.features);
    if (v1_store.size() != p.len * p.dv1) v1_store = empty_array<T>({p.len, p.dv1});
    const T* vs = vt.data() + s * p.len * p.dv;
    const std::uint8_t* pad = p.mask_row(s);
    for (std::size_t i = 0; i < p.len; ++i) {
      const bool keep = !pad || !pad[i];
      T* row = v1_store.data() + i * p.dv1;
      for (std::size_t c = 0; c < p.dv; ++c) row[c] = keep ? vs[i * p.dv + c] : T(0);
      row[p.dv] = keep ? T(1) : T(0);
    }
    v1 = mat<const T>(v1_store.data(), p.len, p.dv1);
    if (pad) {
      if (k_masked.size() != lm) k_masked = empty_array<T>({p.len, p.features});
      for (std::size_t i = 0; i < p.len; ++i)
        for (std::size_t m = 0; m < p.features; ++m)
          k_masked.data()[i * p.features + m] = pad[i] ? T(0) : k.data[i * p.features + m];
      k = mat<const T>(k_masked.data(), p.len, p.features);
    }
  }
};

// One slice's gradient buffers dQ' [L, M], dK' [L, M], dV [L, dv]; null data where the input
// needs no gradient. A backward slice writes each as beta * buffer + its gradient: beta is 0 where
// the buffer is fresh (its first write must cover every element, and nothing may read it before),
// 1 where it already holds a gradient (Node::grad_target).
template <class T>
struct SliceGrads {
  MatView<T> dq, dk, dv;
  T dq_beta = 1, dk_beta = 1, dv_beta = 1;

  // For a form that only accumulates: fresh buffers zero-filled, every beta 1.
  SliceGrads zeroed_where_fresh() const {
    SliceGrads z = *this;
    auto zero = [](const MatView<T>& view, T& beta) {
      if (view.data && beta == T(0))
        for (int r = 0; r < view.rows; ++r) std::fill(view.row(r), view.row(r) + view.cols, T(0));
      beta = T(1);
    };
    zero(z.dq, z.dq_beta);
    zero(z.dk, z.dk_beta);
    zero(z.dv, z.dv_beta);
    return z;
  }
};

template <class T>
using NodePtr = std::shared_ptr<Node<T>>;

// Which inputs want gradients, their buffers and betas. Taken in the order q, k, v: when two
// inputs are one node, the later gets beta 1, so each form writes dQ', dK', dV of a slice's rows
// in that order (an aliased buffer's first write is then the one with beta 0).
template <class T>
struct GradTargets {
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
  T dq_beta = 1, dk_beta = 1, dv_beta = 1;
  GradTargets(Node<T>& nq, Node<T>& nk, Node<T>& nv) {
    take(nq, dq, dq_beta);
    take(nk, dk, dk_beta);
    take(nv, dv, dv_beta);
  }
  SliceGrads<T> slice(const FavorPlan& p, std::size_t s) const {
    const std::size_t lm = p.len * p.features, ld = p.len * p.dv;
    SliceGrads<T> g{mat(dq ? dq + s * lm : nullptr, p.len, p.features),
                    mat(dk ? dk + s * lm : nullptr, p.len, p.features), mat(dv ? dv + s * ld : nullptr, p.len, p.dv)};
    g.dq_beta = dq_beta;
    g.dk_beta = dk_beta;
    g.dv_beta = dv_beta;
    return g;
  }

 private:
  static void take(Node<T>& n, T*& data, T& beta) {
    if (!n.requires_grad) return;
    const auto target = n.grad_target();
    data = target.data;
    beta = target.beta;
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
    const T* gi = g + i * p.dv;
    for (std::size_t c = 0; c < p.dv; ++c) dnum1[i * p.dv1 + c] = gi[c] * inv;
    dnum1[i * p.dv1 + p.dv] = gd == den[i] ? -detail::row_dot(gi, out + i * p.dv, p.dv) * inv : T(0);
  }
}

// The backward driver of the fused forms. Per slice s: load the operands, form dnum1 from the
// output gradient G [N, L, dv] (out [N, L, dv] and den [N, L] saved by forward), then call
// backward_slice(s, in, dnum1 [L, dv+1], grads).
template <class T, class F>
void for_each_backward_slice(const FavorPlan& p, const NodePtr<T>& nq, const NodePtr<T>& nk, const NodePtr<T>& nv,
                             const Array<T>& g, const Array<T>& out, const Array<T>& den, F backward_slice) {
  const GradTargets<T> grads(*nq, *nk, *nv);
  const Tensor<T> qt(nq), kt(nk), vt(nv);
  for_each_slice(p.slices, [&](std::size_t s) {
    Array<T> dnum1 = empty_array<T>({p.len, p.dv1});
    SliceInputs<T> in;
    in.load(p, qt, kt, vt, s);
    const std::size_t ld = p.len * p.dv;
    output_grads(g.data() + s * ld, out.data() + s * ld, den.data() + s * p.len, p, dnum1.data());
    backward_slice(s, in, mat<const T>(dnum1.data(), p.len, p.dv1), grads.slice(p, s));
  });
}


}  // namespace pf::favor
