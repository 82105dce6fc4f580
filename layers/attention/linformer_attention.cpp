#include "layers/attention/linformer_attention.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/mask.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/shape_ops.hpp"
#include "engine/ops/softmax.hpp"
#include "layers/attention/attention_slices.hpp"

namespace pf {

template <class T>
Tensor<T> linformer_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& e,
                              const Tensor<T>& f, const Mask* key_padding) {
  const OpTimer timer("linformer_attention");
  const AttentionSlices a =
      check_attention_slices("linformer_attention", "q", "k", "d", q.shape(), k.shape(), v.shape(), key_padding);
  if (e.dim() != 2 || e.shape() != f.shape())
    throw std::invalid_argument(fmt::format("linformer_attention: projections E {} and F {} must both be [k, L_max]",
                                            shape_str(e.shape()), shape_str(f.shape())));
  const std::size_t L = a.len, max_length = e.size(1);
  if (L > max_length)
    throw std::invalid_argument(fmt::format("linformer_attention: sequence length {} exceeds the max length {} of its "
                                            "projections E, F {} (the model's context)",
                                            L, max_length, shape_str(e.shape())));
  Tensor<T> keys = k, values = v;
  if (key_padding) {  // [lead..., L] -> [lead..., 1.., L, 1]: zero the padded rows of K and V
    Shape ms = to_shape(key_padding->shape());
    ms.insert(ms.end() - 1, q.dim() - 1 - ms.size(), 1);
    ms.push_back(1);
    Mask m = *key_padding;
    m.reshape(ms);
    keys = masked_fill(keys, m, T(0));
    values = masked_fill(values, m, T(0));
  }
  const Tensor<T> e_l = L == max_length ? e : slice(e, 1, 0, L);
  const Tensor<T> f_l = L == max_length ? f : slice(f, 1, 0, L);
  const Tensor<T> projected_keys = matmul(e_l, keys);      // [..., k, d]
  const Tensor<T> projected_values = matmul(f_l, values);  // [..., k, dv]
  const T scale = T(1 / std::sqrt(double(std::max<std::size_t>(q.size(-1), 1))));
  return matmul(softmax(mul_scalar(matmul(q, projected_keys, false, true), scale)), projected_values);
}

template <class T>
LinformerAttention<T>::LinformerAttention(std::size_t projected_length, std::size_t max_length, bool causal, Rng& rng) {
  if (causal)
    throw std::invalid_argument(
        "linformer attention is bidirectional only: its projected keys mix every position, future ones too, so it "
        "cannot be causal (use --task masked, or another kernel)");
  if (projected_length == 0 || max_length == 0)
    throw std::invalid_argument(fmt::format("linformer attention: projected length k = {} and max length L_max = {} "
                                            "must be positive",
                                            projected_length, max_length));
  const T stddev = T(1 / std::sqrt(double(max_length)));
  e_ = this->register_parameter("key_projection", randn<T>({projected_length, max_length}, rng, stddev));
  f_ = this->register_parameter("value_projection", randn<T>({projected_length, max_length}, rng, stddev));
}

#define PF_INSTANTIATE(T)                                                                                     \
  template Tensor<T> linformer_attention<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, \
                                            const Tensor<T>&, const Mask*);                                   \
  template class LinformerAttention<T>;
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
