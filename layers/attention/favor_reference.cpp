#include "layers/attention/favor_reference.hpp"

#include "engine/ops/elementwise.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/ops/shape_ops.hpp"
#include "layers/attention/favor_plan.hpp"

namespace pf {

template <class T>
Tensor<T> favor_causal_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v) {
  favor::plan_favor("favor_causal_naive", q.shape(), k.shape(), v.shape(), nullptr);
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
  favor::plan_favor("favor_bidirectional_naive", q.shape(), k.shape(), v.shape(), nullptr);
  Tensor<T> num = matmul(q, matmul(k, v, true, false));
  Tensor<T> den = sum(mul(q, sum(k, -2, true)), -1, true);
  return div(num, den);
}

#define PF_INSTANTIATE(T)                                                                                \
  template Tensor<T> favor_causal_naive<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&); \
  template Tensor<T> favor_bidirectional_naive<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
