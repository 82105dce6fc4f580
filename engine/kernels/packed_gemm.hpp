// The engine's own single-precision GEMM: packed panels and a register-blocked xsimd kernel.
//
// Why it exists: the OpenBLAS of Debian 12 (0.3.21) does not recognise recent Xeons and falls
// back to its SSE3 "Prescott" kernels, which run a quarter of the AVX-512 speed; and a Performer
// step makes many small GEMMs (chunks of 32 tokens, 64 features) where BLAS threading costs
// more than it gives. bench/matmul_bench compares it with cblas_sgemm in one run.
#pragma once

namespace pf {

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major, op(X) = X or X^T per flag; lda/ldb/ldc are
// the row strides as stored. beta == 0 never reads C (so C may hold NaN or garbage).
// Large products are split into tiles over num_threads() threads; each element of C is
// computed by one thread in a fixed order, so the result does not depend on the thread count.
// A non-null bias [N] is then added to every row of C (in the same pass as the last store, a
// separate rounding: with alpha = 1, the values of the product followed by a row add).
void packed_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc, const float* bias = nullptr);

}  // namespace pf
