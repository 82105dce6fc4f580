// FAVOR+ causal in RNN mode, for generation: the state S1 = [S, z] per slice, O(M dv) per token,
// independent of the context length. No gradient.
// Checked by tests/layers/attention/test_favor_attention.cpp: "favor causal: recurrent steps
// equal the full causal output (float32)".
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "layers/attention/favor_plan.hpp"

#include "engine/core/profiler.hpp"

namespace pf {

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

// Per slice (N of them), q', k' [M], v [dv], state S1 [M, dv+1]:
//   S1 += K'^T V1 (rank 1, skipped for a padded token);  [num, den] = Q' S1;  out = num / den.
template <class T>
Tensor<T> favor_causal_step(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, FavorCausalState<T>& state,
                            const std::uint8_t* key_padded) {
  const OpTimer timer("favor_causal_step");
  const std::size_t M = state.features, dv = state.value_width, dv1 = dv + 1, N = state.slices;
  if (q.shape() != k.shape() || q.numel() != N * M || v.numel() != N * dv || q.dim() == 0 || q.size(-1) != M ||
      v.size(-1) != dv)
    throw std::invalid_argument(fmt::format(
        "favor_causal_step: q' {}, k' {}, v {} do not fit a state of {} slices, M = {}, dv = {}",
        shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()), N, M, dv));
  Array<T> out = empty_array<T>(v.shape());
  std::vector<T> o1(dv1);
  for (std::size_t s = 0; s < N; ++s) {
    const T* qs = q.data() + s * M;
    const T* ks = k.data() + s * M;
    const T* vs = v.data() + s * dv;
    const bool keep = !key_padded || !key_padded[s];
    std::fill(o1.begin(), o1.end(), T(0));
    for (std::size_t m = 0; m < M; ++m) {
      T* row = state.s1.data() + (s * M + m) * dv1;
      if (keep) {
        for (std::size_t c = 0; c < dv; ++c) row[c] += ks[m] * vs[c];
        row[dv] += ks[m];
      }
      for (std::size_t c = 0; c < dv1; ++c) o1[c] += qs[m] * row[c];
    }
    const T inv = T(1) / favor::guarded(o1[dv]);
    for (std::size_t c = 0; c < dv; ++c) out.data()[s * dv + c] = o1[c] * inv;
  }
  ++state.steps;
  return Tensor<T>(std::move(out));
}

#define PF_INSTANTIATE(T)                                                                       \
  template struct FavorCausalState<T>;                                                          \
  template Tensor<T> favor_causal_step<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, \
                                          FavorCausalState<T>&, const std::uint8_t*);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
