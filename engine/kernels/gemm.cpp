#include "engine/kernels/gemm.hpp"

#include <cblas.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "engine/kernels/packed_gemm.hpp"
#include "engine/kernels/small_gemm.hpp"

namespace pf {
namespace {

GemmBackend backend_from_environment() {
  const char* v = std::getenv("PERFORMER_GEMM");
  return v && std::strcmp(v, "blas") == 0 ? GemmBackend::Blas : GemmBackend::Packed;
}

std::atomic<GemmBackend> g_backend{backend_from_environment()};

// Products this small run on one thread anyway (the packed GEMM takes a second thread from 4
// MFLOP = 2e6 multiply-adds), where packing B costs as much as the arithmetic:
// small_gemm reads both operands in place (measured 1.1-1.7x packed_sgemm and OpenBLAS at
// 32x33x64, 64x33x32, 48^3, 128x64x64 and 6x1024x256, within 10% either way at 100^3; see
// docs/PERFORMANCE.md). It takes op(B) by rows (its B^T form is a dot-product kernel, slower here),
// alpha = 1 and beta = 0 or 1. The choice depends on the shape alone, never on the threads.
constexpr double kSmallProduct = double(1 << 19), kSmallProductFewRows = 1.9e6;
constexpr int kFewRows = 32;
// (Empty products stay with packed_sgemm, which scales C by beta.)
bool small_gemm_serves(bool trans_b, int M, int N, int K, float alpha, float beta) {
  const double size = double(M) * N * K;
  return M > 0 && N > 0 && K > 0 && !trans_b && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) &&
         (size <= kSmallProduct || (M <= kFewRows && size <= kSmallProductFewRows));
}

std::string view_str(const char* name, const MatShape& x) {
  return fmt::format("{}{} [{},{}] (ld {})", name, x.transposed ? "^T" : "", x.rows, x.cols, x.ld);
}

}  // namespace

namespace detail {
void gemm_shape_error(const char* op, const MatShape& c, const MatShape& a, const MatShape& b) {
  const char* why = c.transposed                 ? "C must not be a transposed view"
                    : a.cols != b.rows           ? "A and B do not match on the inner dim"
                    : a.rows != c.rows || b.cols != c.cols ? "C does not have the shape of A B"
                    : c.ld < c.stored_cols() || a.ld < a.stored_cols() || b.ld < b.stored_cols()
                        ? "a leading dimension is smaller than its stored row"
                        : "bad views";
  throw std::invalid_argument(fmt::format("{}: {} = {} {}: {}", op, view_str("C", c), view_str("A", a),
                                          view_str("B", b), why));
}
}  // namespace detail

void set_gemm_backend(GemmBackend backend) { g_backend.store(backend); }
GemmBackend gemm_backend() { return g_backend.load(); }
const char* gemm_backend_name(GemmBackend backend) {
  return backend == GemmBackend::Blas ? "openblas" : "packed";
}

template <>
void gemm<float>(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  if (g_backend.load(std::memory_order_relaxed) == GemmBackend::Packed) {
    if (small_gemm_serves(trans_b, M, N, K, alpha, beta)) {
      const MatView<const float> a = trans_a ? MatView<const float>(A, K, M, lda).T() : MatView<const float>(A, M, K, lda);
      const MatView<float> c(C, M, N, ldc);
      const MatView<const float> b(B, K, N, ldb);
      if (beta == 0.0f) small_gemm_set<float>(c, a, b);
      else small_gemm_acc<float>(c, a, b);
      return;
    }
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

namespace {
// C[i, :] += bias for every row, rows split over the threads.
template <class T>
void add_row_bias(int M, int N, const T* bias, T* C, int ldc) {
  parallel_ranges(std::size_t(M), rows_per_task(std::size_t(N)), [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      T* ci = C + i * std::size_t(ldc);
      for (int j = 0; j < N; ++j) ci[j] += bias[j];
    }
  });
}
}  // namespace

template <>
void gemm_plus_bias<float>(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B,
                           int ldb, const float* bias, float* C, int ldc) {
  if (g_backend.load(std::memory_order_relaxed) == GemmBackend::Packed &&
      !small_gemm_serves(trans_b, M, N, K, 1.0f, 0.0f)) {
    packed_sgemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias);
    return;
  }
  // Equal to gemm followed by the row add bit for bit on every path (small_gemm included).
  gemm<float>(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
  add_row_bias(M, N, bias, C, ldc);
}

template <>
void gemm_plus_bias<double>(bool trans_a, bool trans_b, int M, int N, int K, const double* A, int lda,
                            const double* B, int ldb, const double* bias, double* C, int ldc) {
  gemm<double>(trans_a, trans_b, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, ldc);
  add_row_bias(M, N, bias, C, ldc);
}

}  // namespace pf
