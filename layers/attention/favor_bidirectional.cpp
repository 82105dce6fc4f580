// FAVOR+ bidirectional: every query attends to every (unpadded) key.
// Derivation: docs/DERIVATIONS.md#favor-bidirectional
// Checked by tests/layers/attention/test_favor_attention.cpp: "favor attention: gradcheck, several
// shapes, with and without padding" and "favor attention: fused backward equals autodiff through
// primitives" (against favor_bidirectional_naive).
#include "layers/attention/favor_plan.hpp"

#include "engine/core/profiler.hpp"

namespace pf {
using namespace favor;
namespace {

// Forward of one slice (one of N = B*H), shapes per slice:
//   in:  Q' [L, M], K' [L, M], V1 = [V, 1] [L, dv+1]
//   out: S1 = K'^T V1 = [S, z] [M, dv+1] (saved for backward), out [L, dv], den [L] (saved)
//   O1 = Q' S1 = [num, den] [L, dv+1] is scratch; out = num / den.
template <class T>
void favor_bidirectional_forward(const FavorPlan& p, const SliceInputs<T>& in, MatView<T> s1, T* out, T* den) {
  Array<T> o1 = empty_array<T>({p.len, p.dv1});
  gemm_set(s1, in.k.T(), in.v1);
  gemm_set(mat(o1.data(), p.len, p.dv1), in.q, s1);
  finish_rows(o1.data(), p.len, p, out, den);
}

// Backward of one slice, from dnum1 = [dnum, dden] [L, dv+1] and the saved S1 [M, dv+1] (each
// gradient written with its beta: a fresh buffer is not zero-filled first and then read back):
//   dQ' += dnum1 S1^T   (= dnum S^T + dden z^T: the [V, 1] trick makes it one product)
//   dS1 = Q'^T dnum1 = [dS, dz]  [M, dv+1] scratch
//   dK' += V1 dS1^T     (= V dS^T + 1 dz^T)
//   dV  += K' dS        (dS = dS1 without its last column)
template <class T>
void favor_bidirectional_backward(const FavorPlan& p, const SliceInputs<T>& in, MatView<const T> s1,
                                  MatView<const T> dnum1, const SliceGrads<T>& grads) {
  if (grads.dq.data) detail::gemm_views<T>("favor_bidirectional", grads.dq, dnum1, s1.T(), T(1), grads.dq_beta);
  if (!grads.dk.data && !grads.dv.data) return;
  Array<T> ds1_store = empty_array<T>({p.features, p.dv1});
  const MatView<T> ds1 = mat(ds1_store.data(), p.features, p.dv1);
  gemm_set(ds1, in.q.T(), dnum1);
  if (grads.dk.data) detail::gemm_views<T>("favor_bidirectional", grads.dk, in.v1, ds1.T(), T(1), grads.dk_beta);
  if (grads.dv.data)
    detail::gemm_views<T>("favor_bidirectional", grads.dv, in.k, ds1.col_block(0, p.dv), T(1), grads.dv_beta);
}

}  // namespace

template <class T>
Tensor<T> favor_bidirectional(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding) {
  const OpTimer timer("favor_bidirectional");
  const FavorPlan p = plan_favor("favor_bidirectional", q.shape(), k.shape(), v.shape(), key_padding);
  const std::size_t s1_size = p.features * p.dv1;
  Array<T> out = empty_array<T>(p.out_shape);
  Array<T> den = empty_array<T>({p.slices, p.len});
  Array<T> s1 = empty_array<T>({p.slices, p.features, p.dv1});
  if (p.len > 0) for_each_slice(p.slices, [&](std::size_t s) {
    SliceInputs<T> in;
    in.load(p, q, k, v, s);
    favor_bidirectional_forward(p, in, mat(s1.data() + s * s1_size, p.features, p.dv1),
                                out.data() + s * p.len * p.dv, den.data() + s * p.len);
  });
  if (!needs_grad<T>({&q, &k, &v})) return Tensor<T>(std::move(out));
  auto nq = q.node(), nk = k.node(), nv = v.node();
  return make_result<T>(std::move(out), "favor_bidirectional", {q, k, v},
                        [nq, nk, nv, p, s1_size, den = std::move(den), s1 = std::move(s1)](const Array<T>& g,
                                                                                           const Array<T>& out) {
    if (p.len == 0) return;
    for_each_backward_slice(p, nq, nk, nv, g, out, den, [&](std::size_t s, const SliceInputs<T>& in,
                                                            MatView<const T> dnum1, const SliceGrads<T>& grads) {
      favor_bidirectional_backward(p, in, mat(s1.data() + s * s1_size, p.features, p.dv1), dnum1, grads);
    });
  });
}

template Tensor<float> favor_bidirectional<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&,
                                                  const Mask*);
template Tensor<double> favor_bidirectional<double>(const Tensor<double>&, const Tensor<double>&,
                                                    const Tensor<double>&, const Mask*);

}  // namespace pf
