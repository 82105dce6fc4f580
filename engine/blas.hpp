// Thin typed wrappers over CBLAS, so op code can stay templated on float/double.
// (Kept in its own translation unit: <cblas.h> and <xtensor-blas/xlinalg.hpp> clash.)
#pragma once

namespace pf {

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or X^T per the flag.
// lda/ldb/ldc are the row strides of A, B, C as stored.
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// Threads OpenBLAS may use (0 = leave as configured).
void set_blas_threads(int threads);
int blas_threads();

}  // namespace pf
