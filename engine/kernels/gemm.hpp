// Typed GEMM entry point, so op code can stay templated on float/double.
// float goes to the engine's own packed GEMM (engine/kernels/packed_gemm.hpp) unless the BLAS backend is
// chosen; double always goes to OpenBLAS (gradient checks care about exactness, not speed).
// (Kept in its own translation unit: <cblas.h> and <xtensor-blas/xlinalg.hpp> clash.)
#pragma once

#include "engine/kernels/thread_pool.hpp"

namespace pf {

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or X^T per the flag.
// lda/ldb/ldc are the row strides of A, B, C as stored.
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// Which implementation float GEMMs use. Default: Packed, or Blas when the environment variable
// PERFORMER_GEMM=blas is set at startup (for A/B comparisons; bench/matmul_bench shows both).
enum class GemmBackend { Packed, Blas };
void set_gemm_backend(GemmBackend backend);
GemmBackend gemm_backend();
const char* gemm_backend_name(GemmBackend backend);

}  // namespace pf
