#include "engine/ops/matmul.hpp"

#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/gemm.hpp"

namespace pf {
namespace {

// Runs fn(slice) for each batch slice. Slices run in parallel (each GEMM then on one thread:
// batched products here are many small ones) unless they accumulate into one shared gradient.
template <class F>
void for_each_matmul_slice(std::size_t batch, bool writes_shared, F fn) {
  if (writes_shared || batch == 1) {
    for (std::size_t s = 0; s < batch; ++s) fn(s);
    return;
  }
  parallel_for(batch, [&](std::size_t s) { fn(s); });
}

// How a (possibly batched) product maps onto GEMM calls.
struct MatmulPlan {
  std::size_t batch = 1;         // number of slices
  int n = 0, k = 0, p = 0;       // op(A) is n x k, op(B) is k x p
  int a_rows = 0, a_cols = 0;    // A's stored slice
  int b_rows = 0, b_cols = 0;    // B's stored slice
  bool a_shared = false, b_shared = false;
  Shape out_shape;
};

MatmulPlan plan_matmul(const Shape& sa, const Shape& sb, bool ta, bool tb) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("matmul: shapes {}{} and {}{} {}", shape_str(sa),
                                             ta ? "^T" : "", shape_str(sb), tb ? "^T" : "", why));
  };
  if (sa.size() < 2 || sb.size() < 2) throw fail("need at least 2 axes each");
  for (const std::size_t d : {sa[sa.size() - 2], sa.back(), sb[sb.size() - 2], sb.back()})
    if (d > std::size_t(std::numeric_limits<int>::max()))
      throw fail(fmt::format("have a matrix side of {}, past the GEMM's limit of 2^31 - 1", d));
  MatmulPlan plan;
  plan.a_rows = static_cast<int>(sa[sa.size() - 2]);
  plan.a_cols = static_cast<int>(sa.back());
  plan.b_rows = static_cast<int>(sb[sb.size() - 2]);
  plan.b_cols = static_cast<int>(sb.back());
  plan.n = ta ? plan.a_cols : plan.a_rows;
  plan.k = ta ? plan.a_rows : plan.a_cols;
  const int kb = tb ? plan.b_cols : plan.b_rows;
  plan.p = tb ? plan.b_rows : plan.b_cols;
  if (plan.k != kb) throw fail(fmt::format("do not match on the inner dim ({} vs {})", plan.k, kb));
  const Shape lead_a(sa.begin(), sa.end() - 2), lead_b(sb.begin(), sb.end() - 2);
  Shape lead;
  if (lead_b.empty()) {
    lead = lead_a;
    plan.b_shared = !lead_a.empty();
  } else if (lead_a.empty()) {
    lead = lead_b;
    plan.a_shared = true;
  } else if (lead_a == lead_b) {
    lead = lead_a;
  } else {
    throw fail("have different batch axes (they must match, or one operand must be 2-D)");
  }
  plan.batch = shape_numel(lead);
  plan.out_shape = lead;
  plan.out_shape.push_back(static_cast<std::size_t>(plan.n));
  plan.out_shape.push_back(static_cast<std::size_t>(plan.p));
  // A shared B with untransposed A is one tall GEMM: fold the batch into A's rows.
  if (plan.b_shared && !ta) {
    plan.n *= static_cast<int>(plan.batch);
    plan.a_rows = plan.n;
    plan.batch = 1;
  }
  return plan;
}

}  // namespace

// C = A' B' with A' = op(A), B' = op(B).
// dA' = dC B'^T, dB' = A'^T dC; for a transposed operand the gradient is transposed back:
//   A used as A^T:  dA = B' dC^T;   B used as B^T:  dB = dC^T A'.
// A shared 2-D operand's gradient sums over the batch (GEMMs accumulate with beta = 1).
template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool ta, bool tb) {
  const OpTimer timer("matmul");
  const MatmulPlan plan = plan_matmul(a.shape(), b.shape(), ta, tb);
  Array<T> out = empty_array<T>(plan.out_shape);
  const std::size_t a_step = plan.a_shared ? 0 : std::size_t(plan.a_rows) * plan.a_cols;
  const std::size_t b_step = plan.b_shared ? 0 : std::size_t(plan.b_rows) * plan.b_cols;
  const std::size_t c_step = std::size_t(plan.n) * plan.p;
  if (plan.k == 0) std::fill(out.begin(), out.end(), T(0));
  else if (out.size() > 0)
    for_each_matmul_slice(plan.batch, false, [&](std::size_t s) {
      gemm<T>(ta, tb, plan.n, plan.p, plan.k, T(1), a.data() + s * a_step, plan.a_cols,
              b.data() + s * b_step, plan.b_cols, T(0), out.data() + s * c_step, plan.p);
    });
  if (!needs_grad<T>({&a, &b})) return Tensor<T>(std::move(out));
  auto na = a.node(), nb = b.node();
  return make_result<T>(std::move(out), "matmul", {a, b},
                        [na, nb, plan, ta, tb, a_step, b_step, c_step](const Array<T>& g, const Array<T>&) {
    const int n = plan.n, k = plan.k, p = plan.p;
    if (n == 0 || k == 0 || p == 0) return;  // an empty product has nothing to push back
    if (na->requires_grad) {
      T* da = na->grad_buffer().data();
      for_each_matmul_slice(plan.batch, plan.a_shared, [&](std::size_t s) {
        const T* gs = g.data() + s * c_step;
        const T* bs = nb->value.data() + s * b_step;
        if (!ta)  // dA [n,k] = dC [n,p] B'^T
          gemm<T>(false, !tb, n, k, p, T(1), gs, p, bs, plan.b_cols, T(1), da + s * a_step, plan.a_cols);
        else      // dA [k,n] = B' dC^T
          gemm<T>(tb, true, k, n, p, T(1), bs, plan.b_cols, gs, p, T(1), da + s * a_step, plan.a_cols);
      });
    }
    if (nb->requires_grad) {
      T* db = nb->grad_buffer().data();
      for_each_matmul_slice(plan.batch, plan.b_shared, [&](std::size_t s) {
        const T* gs = g.data() + s * c_step;
        const T* as = na->value.data() + s * a_step;
        if (!tb)  // dB [k,p] = A'^T dC
          gemm<T>(!ta, false, k, p, n, T(1), as, plan.a_cols, gs, p, T(1), db + s * b_step, plan.b_cols);
        else      // dB [p,k] = dC^T A'
          gemm<T>(true, ta, p, k, n, T(1), gs, p, as, plan.a_cols, T(1), db + s * b_step, plan.b_cols);
      });
    }
  });
}

template Tensor<float> matmul<float>(const Tensor<float>&, const Tensor<float>&, bool, bool);
template Tensor<double> matmul<double>(const Tensor<double>&, const Tensor<double>&, bool, bool);

}  // namespace pf
