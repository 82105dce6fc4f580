// Matrix product on BLAS, 2-D and batched over leading axes.
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// C = op(A) op(B), op(X) = X or X^T (of the last two axes) per the flags.
//   A [..., n, k] and B [..., k, p]: leading axes are batch axes and must match exactly,
//   except that a 2-D operand is shared by every batch slice of the other
//   (x [B, L, D] times W [D, E] is one GEMM over B*L rows).
// One sgemm/dgemm per batch slice (or one in all); no per-element dot loops.
template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool trans_a = false, bool trans_b = false);

}  // namespace pf
