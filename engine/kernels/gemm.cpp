#include "engine/kernels/gemm.hpp"

#include <cblas.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "engine/kernels/packed_gemm.hpp"

namespace pf {
namespace {

GemmBackend backend_from_environment() {
  const char* v = std::getenv("PERFORMER_GEMM");
  return v && std::strcmp(v, "blas") == 0 ? GemmBackend::Blas : GemmBackend::Packed;
}

std::atomic<GemmBackend> g_backend{backend_from_environment()};

}  // namespace

void set_gemm_backend(GemmBackend backend) { g_backend.store(backend); }
GemmBackend gemm_backend() { return g_backend.load(); }
const char* gemm_backend_name(GemmBackend backend) {
  return backend == GemmBackend::Blas ? "openblas" : "packed";
}

template <>
void gemm<float>(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  if (g_backend.load(std::memory_order_relaxed) == GemmBackend::Packed) {
    packed_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A,
                  int lda, const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace pf
