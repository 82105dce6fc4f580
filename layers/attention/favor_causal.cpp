// FAVOR+ causal, per token: query i attends to keys j <= i through the prefix state
// S1_i = sum_{j<=i} K'_j^T V1_j = [S_i, z_i].
// Derivation: docs/DERIVATIONS.md#favor-causal
// Checked by tests/layers/attention/test_favor_attention.cpp: "favor attention: gradcheck, several
// shapes, with and without padding", "favor attention: fused backward equals autodiff through
// primitives" (against favor_causal_naive) and "favor causal: changing later tokens leaves earlier
// outputs unchanged".
#include "layers/attention/favor_plan.hpp"
#include "engine/core/profiler.hpp"
#include "engine/kernels/row_math.hpp"

namespace pf {
using namespace favor;
namespace {

// Forward of one slice (one of N = B*H), shapes per slice:
//   in:  Q' [L, M], K' [L, M], V1 = [V, 1] [L, dv+1]
//   out: out [L, dv], den [L] (saved for backward, with Q', K', V: O(L M), never the L states)
// Per token i, fused in one pass over the carried state s1 = S1 [M, dv+1]:
//   S1 += K'_i^T V1_i (rank 1);  o1_i = Q'_i S1 = [num_i, den_i];  out_i = num_i / den_i.
template <class T>
void favor_causal_forward(const FavorPlan& p, const SliceInputs<T>& in, T* out, T* den) {
  const std::size_t M = p.features, dv1 = p.dv1;
  Array<T> s1 = filled_array<T>({M, dv1}, T(0));
  Array<T> o1 = empty_array<T>({dv1});
  for (std::size_t i = 0; i < p.len; ++i) {
    const T* qi = in.q.row(i);
    const T* ki = in.k.row(i);
    const T* vi = in.v1.row(i);
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
    finish_rows(o, 1, p, out + i * p.dv, den + i);
  }
}

// Backward, forward sweep: rebuild S1_i token by token in s1 [M, dv+1] and
//   dQ'_i += dnum1_i S1_i^T   (dQ'_i = dnum_i S_i^T + dden_i z_i^T as one product: dnum1 = [dnum, dden],
//                              S1 = [S, z], so dQ'_i = dnum1_i S1_i^T)
template <class T>
void favor_causal_backward_dq(const FavorPlan& p, const SliceInputs<T>& in, MatView<const T> dnum1, T* s1,
                              MatView<T> dq) {
  const std::size_t M = p.features, dv1 = p.dv1;
  std::fill(s1, s1 + M * dv1, T(0));
  for (std::size_t i = 0; i < p.len; ++i) {
    const T* ki = in.k.row(i);
    const T* vi = in.v1.row(i);
    const T* dn = dnum1.row(i);
    T* dqi = dq.row(i);
    for (std::size_t m = 0; m < M; ++m) {
      T* row = s1 + m * dv1;
      const T km = ki[m];
      for (std::size_t c = 0; c < dv1; ++c) row[c] += km * vi[c];
      dqi[m] += detail::row_dot(row, dn, dv1);
    }
  }
}

// Backward, reverse sweep: accumulate R1_j = sum_{i>=j} Q'_i^T dnum1_i = [R_j, r_j] in r1 [M, dv+1] and
//   dK'_j += R1_j V1_j^T (= R_j V_j + r_j);  dV_j += R_j^T K'_j.  A padded key's V1_j row is 0, so
//   it adds nothing to dK'_j (its gradient buffer may hold other consumers' terms: not touched).
template <class T>
void favor_causal_backward_dk_dv(const FavorPlan& p, const SliceInputs<T>& in, MatView<const T> dnum1, T* r1,
                                 MatView<T> dk, MatView<T> dv) {
  const std::size_t M = p.features, dv1 = p.dv1;
  std::fill(r1, r1 + M * dv1, T(0));
  for (std::size_t j = p.len; j-- > 0;) {
    const T* qj = in.q.row(j);
    const T* kj = in.k.row(j);
    const T* vj = in.v1.row(j);
    const T* dn = dnum1.row(j);
    T* dkj = dk.data ? dk.row(j) : nullptr;
    T* dvj = dv.data ? dv.row(j) : nullptr;
    for (std::size_t m = 0; m < M; ++m) {
      T* row = r1 + m * dv1;
      const T qm = qj[m], km = kj[m];
      for (std::size_t c = 0; c < dv1; ++c) row[c] += qm * dn[c];
      if (dkj) dkj[m] += detail::row_dot(row, vj, dv1);
      if (dvj)
        for (std::size_t c = 0; c < p.dv; ++c) dvj[c] += km * row[c];
    }
  }
}

// Backward of one slice: the two sweeps above share one [M, dv+1] buffer (S1, then R1).
template <class T>
void favor_causal_backward(const FavorPlan& p, const SliceInputs<T>& in, MatView<const T> dnum1,
                           const SliceGrads<T>& fresh_or_not) {
  const SliceGrads<T> grads = fresh_or_not.zeroed_where_fresh();  // the sweeps only accumulate
  Array<T> state = empty_array<T>({p.features, p.dv1});
  if (grads.dq.data) favor_causal_backward_dq(p, in, dnum1, state.data(), grads.dq);
  if (grads.dk.data || grads.dv.data)
    favor_causal_backward_dk_dv(p, in, dnum1, state.data(), grads.dk, grads.dv);
}

}  // namespace

template <class T>
Tensor<T> favor_causal(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding) {
  const OpTimer timer("favor_causal");
  const FavorPlan p = plan_favor("favor_causal", q.shape(), k.shape(), v.shape(), key_padding);
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  for_each_slice(p.slices, [&](std::size_t s) {
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    favor_causal_forward(p, in, out.data() + s * p.len * p.dv, den.data() + s * p.len);
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  return make_result<T>(std::move(out), "favor_causal", {q, k, v},
                        [nq, nk, nv, p, den = std::move(den)](const Array<T>& g, const Array<T>& out) {
    for_each_backward_slice(p, nq, nk, nv, g, out, den, [&](std::size_t, const SliceInputs<T>& in,
                                                            MatView<const T> dnum1, const SliceGrads<T>& grads) {
      favor_causal_backward(p, in, dnum1, grads);
    });
  });
}

template Tensor<float> favor_causal<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&,
                                           const Mask*);
template Tensor<double> favor_causal<double>(const Tensor<double>&, const Tensor<double>&, const Tensor<double>&,
                                             const Mask*);

}  // namespace pf
