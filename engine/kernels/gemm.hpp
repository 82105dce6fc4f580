// Typed GEMM entry point, so op code can stay templated on float/double.
// float goes to the engine's own packed GEMM (engine/kernels/packed_gemm.hpp), or for small
// products with op(B) = B, alpha 1 and beta 0 or 1 to small_gemm (engine/kernels/small_gemm.hpp),
// unless the BLAS backend is chosen; double always goes to OpenBLAS (gradient checks care about exactness, not speed).
// (Kept in its own translation unit: <cblas.h> and <xtensor-blas/xlinalg.hpp> clash.)
#pragma once

#include <cstddef>
#include <type_traits>

#include "engine/kernels/thread_pool.hpp"

namespace pf {

// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or X^T per the flag.
// lda/ldb/ldc are the row strides of A, B, C as stored.
template <class T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// C[M,N] = op(A) op(B) + 1 bias^T: bias [N] added to every row after the product, so the values
// equal gemm (alpha 1, beta 0) followed by a row add; the packed float GEMM adds it as it stores
// the last tile, sparing a pass over C.
template <class T>
void gemm_plus_bias(bool trans_a, bool trans_b, int M, int N, int K, const T* A, int lda, const T* B, int ldb,
                    const T* bias, T* C, int ldc);

// ---- matrix views: GEMM calls that read like the math ----------------------------------------
// A view is a matrix as the math reads it, rows x cols, over row-major storage with row stride
// ld. A transposed view reads storage that holds the transpose (cols x rows, stride ld), so
// X.T() costs nothing and goes to GEMM as the trans flag:
//   gemm_acc(dK, P.T(), Q)  is  dK += P^T Q  is  gemm<T>(true, false, ..., T(1), ..., T(1), ...).
struct MatShape {
  int rows = 0, cols = 0, ld = 0;
  bool transposed = false;
  int stored_cols() const { return transposed ? rows : cols; }  // ld may not be smaller
};

template <class E>  // E = T (writable) or const T
struct MatView : MatShape {
  E* data = nullptr;

  MatView() = default;
  MatView(E* p, int r, int c, int stride, bool t = false) : MatShape{r, c, stride, t}, data(p) {}
  template <class F, class = std::enable_if_t<std::is_convertible_v<F*, E*>>>
  MatView(const MatView<F>& o) : MatShape(o), data(o.data) {}  // T -> const T

  MatView T() const { return {data, cols, rows, ld, !transposed}; }
  // Rows [r0, r0 + n) and columns [c0, c0 + n) of the matrix as read.
  MatView row_block(std::size_t r0, std::size_t n) const {
    return {data + (transposed ? r0 : r0 * ld), int(n), cols, ld, transposed};
  }
  MatView col_block(std::size_t c0, std::size_t n) const {
    return {data + (transposed ? c0 * ld : c0), rows, int(n), ld, transposed};
  }
  E* row(std::size_t i) const { return data + i * ld; }  // row i of the storage
};

// rows x cols at p, row stride ld (0: packed, ld = cols).
template <class E>
MatView<E> mat(E* p, std::size_t rows, std::size_t cols, std::size_t ld = 0) {
  return {p, int(rows), int(cols), int(ld ? ld : cols)};
}

namespace detail {
template <class T>
struct Same { using type = T; };
template <class T>
using same_t = typename Same<T>::type;  // not deduced: T comes from C alone
[[noreturn]] void gemm_shape_error(const char* op, const MatShape& c, const MatShape& a, const MatShape& b);

template <class T>
void gemm_views(const char* op, MatView<T> C, MatView<const T> A, MatView<const T> B, T alpha, T beta) {
  if (C.transposed || A.cols != B.rows || A.rows != C.rows || B.cols != C.cols || C.ld < C.stored_cols() ||
      A.ld < A.stored_cols() || B.ld < B.stored_cols())
    gemm_shape_error(op, C, A, B);
  gemm<T>(A.transposed, B.transposed, C.rows, C.cols, A.cols, alpha, A.data, A.ld, B.data, B.ld, beta, C.data,
          C.ld);
}
}  // namespace detail

// C = alpha A B.  Throws std::invalid_argument naming the three shapes when they do not fit.
template <class T>
void gemm_set(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B,
              detail::same_t<T> alpha = 1) {
  detail::gemm_views<T>("gemm_set", C, A, B, alpha, T(0));
}
// C += alpha A B.
template <class T>
void gemm_acc(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B,
              detail::same_t<T> alpha = 1) {
  detail::gemm_views<T>("gemm_acc", C, A, B, alpha, T(1));
}

// Which implementation float GEMMs use. Default: Packed, or Blas when the environment variable
// PERFORMER_GEMM=blas is set at startup (for A/B comparisons; bench/matmul_bench shows both).
enum class GemmBackend { Packed, Blas };
void set_gemm_backend(GemmBackend backend);
GemmBackend gemm_backend();
const char* gemm_backend_name(GemmBackend backend);

}  // namespace pf
