#include "engine/kernels/small_gemm.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

namespace pf {
namespace {

template <class T>
using Vec = xsimd::batch<T>;
template <class T>
constexpr int W = int(Vec<T>::size);

// Per-thread grow-only scratch: slot 0 for padded column panels, slot 1 for a copied op(B).
template <class T>
T* scratch(std::size_t n, int slot) {
  thread_local std::vector<T> buffers[2];
  std::vector<T>& buffer = buffers[slot];
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// Where op(A)'s element (i, k) is: a[i * row_step + k * k_step].
template <class T>
struct AReader {
  const T* a;
  std::ptrdiff_t row_step, k_step;
};

// Which k a row block [i0, i0 + rows) of a square op(A) needs, given its known zeros.
void k_range(Zeros z, int i0, int rows, int K, int& k0, int& k1) {
  k0 = 0, k1 = K;
  if (z == Zeros::above_diagonal) k1 = std::min(K, i0 + rows);  // A(i, k) = 0 for k > i
  if (z == Zeros::below_diagonal) k0 = i0;                      // A(i, k) = 0 for k < i
}

// C[MR rows, cols] (+)= sum_{k in [k0, k1)} A(i, k) B(k, :), with B's rows holding NV vectors
// (cols <= NV W valid; B readable for NV W columns).
template <class T, int MR, int NV>
void row_tile(const AReader<T>& A, int k0, int k1, const T* b, std::ptrdiff_t ldb, T* c, std::ptrdiff_t ldc,
              bool accumulate, int cols) {
  constexpr int w = W<T>;
  Vec<T> s[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) s[r][v] = Vec<T>(T(0));
  for (int k = k0; k < k1; ++k) {
    const T* bk = b + k * ldb;
    Vec<T> bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = Vec<T>::load_unaligned(bk + v * w);
    const T* ak = A.a + k * A.k_step;
    for (int r = 0; r < MR; ++r) {
      const Vec<T> ar(ak[r * A.row_step]);
      for (int v = 0; v < NV; ++v) s[r][v] = xsimd::fma(ar, bv[v], s[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    T* cr = c + r * ldc;
    if (cols == NV * w) {
      for (int v = 0; v < NV; ++v) {
        const Vec<T> out = accumulate ? s[r][v] + Vec<T>::load_unaligned(cr + v * w) : s[r][v];
        out.store_unaligned(cr + v * w);
      }
    } else {
      alignas(64) T tmp[NV * w];
      for (int v = 0; v < NV; ++v) s[r][v].store_aligned(tmp + v * w);
      for (int j = 0; j < cols; ++j) cr[j] = accumulate ? cr[j] + tmp[j] : tmp[j];
    }
  }
}

// rows (1 .. MR) as a compile-time count, so the tile stays in registers.
template <class T, int MR, int NV>
void row_tile_rows(int rows, const AReader<T>& A, int k0, int k1, const T* b, std::ptrdiff_t ldb, T* c,
                   std::ptrdiff_t ldc, bool accumulate, int cols) {
  if constexpr (MR > 1) {
    if (rows < MR) return row_tile_rows<T, MR - 1, NV>(rows, A, k0, k1, b, ldb, c, ldc, accumulate, cols);
  }
  row_tile<T, MR, NV>(A, k0, k1, b, ldb, c, ldc, accumulate, cols);
}

// Tiles keep their sums in vector registers: 32 of them with AVX-512, 16 below (AVX2), where a
// 6 x 4 tile's 24 sums would spill to the stack inside the k loop.
constexpr bool kManyRegisters = W<float> >= 16;
constexpr int kRowTile = 6;
constexpr int kRowVectors = kManyRegisters ? 4 : 2;  // 6 x 4 vectors: 24 sums; 6 x 2: 12

// The last t < W columns of every row, C[:, j0:j0+t] (+)= op(A) B[:, j0:j0+t], without padding
// them to a vector: vectorised over k when A's rows are contiguous (A), over i when its columns
// are (A^T). A padded tile would cost as much as W columns (a quarter of the time of dv + 1 = 65).
template <class T>
void thin_tail(MatView<T> C, const AReader<T>& A, int K, const T* b, std::ptrdiff_t ldb, bool accumulate, Zeros z,
               int j0) {
  constexpr int w = W<T>;
  T* column = scratch<T>(std::size_t(K), 0);
  for (int j = j0; j < C.cols; ++j) {
    for (int k = 0; k < K; ++k) column[k] = b[k * ldb + j];
    if (A.k_step == 1) {
      for (int i = 0; i < C.rows; ++i) {
        int k0, k1;
        k_range(z, i, 1, K, k0, k1);
        const T* ai = A.a + i * A.row_step;
        Vec<T> s(T(0));
        int k = k0;
        for (; k + w <= k1; k += w) s = xsimd::fma(Vec<T>::load_unaligned(ai + k), Vec<T>::load_unaligned(column + k), s);
        T sum = xsimd::hadd(s);
        for (; k < k1; ++k) sum += ai[k] * column[k];
        T& out = C.data[std::ptrdiff_t(i) * C.ld + j];
        out = accumulate ? out + sum : sum;
      }
    } else {  // A.row_step == 1
      int i0 = 0;
      for (; i0 + w <= C.rows; i0 += w) {
        int k0, k1;
        k_range(z, i0, w, K, k0, k1);
        Vec<T> s(T(0));
        for (int k = k0; k < k1; ++k) s = xsimd::fma(Vec<T>::load_unaligned(A.a + i0 + k * A.k_step), Vec<T>(column[k]), s);
        alignas(64) T lanes[w];
        s.store_aligned(lanes);
        for (int r = 0; r < w; ++r) {
          T& out = C.data[std::ptrdiff_t(i0 + r) * C.ld + j];
          out = accumulate ? out + lanes[r] : lanes[r];
        }
      }
      for (int i = i0; i < C.rows; ++i) {
        int k0, k1;
        k_range(z, i, 1, K, k0, k1);
        T sum = 0;
        for (int k = k0; k < k1; ++k) sum += A.a[i + k * A.k_step] * column[k];
        T& out = C.data[std::ptrdiff_t(i) * C.ld + j];
        out = accumulate ? out + sum : sum;
      }
    }
  }
}

// C (+)= op(A) B for B read by rows (b, ldb: K x N row-major). Columns [0, col_end(i0, rows)) of a
// row block are computed (tril needs fewer).
template <class T, class ColEnd>
void by_rows(MatView<T> C, const AReader<T>& A, int K, const T* b, std::ptrdiff_t ldb, bool accumulate, Zeros z,
             ColEnd col_end, bool thin_tail) {
  constexpr int w = W<T>;
  T* panel = scratch<T>(std::size_t(K) * w, 0);
  int panel_j0 = -1, panel_end = -1;
  for (int i0 = 0; i0 < C.rows; i0 += kRowTile) {
    const int rows = std::min(kRowTile, C.rows - i0), n = col_end(i0, rows);
    int k0, k1;
    k_range(z, i0, rows, K, k0, k1);
    const AReader<T> Ai{A.a + i0 * A.row_step, A.row_step, A.k_step};
    T* ci = C.data + std::ptrdiff_t(i0) * C.ld;
    int j0 = 0;
    for (; n - j0 >= kRowVectors * w; j0 += kRowVectors * w)
      row_tile_rows<T, kRowTile, kRowVectors>(rows, Ai, k0, k1, b + j0, ldb, ci + j0, C.ld, accumulate, kRowVectors * w);
    if (kRowVectors > 2 && n - j0 >= 2 * w) {
      row_tile_rows<T, kRowTile, 2>(rows, Ai, k0, k1, b + j0, ldb, ci + j0, C.ld, accumulate, 2 * w);
      j0 += 2 * w;
    }
    if (n - j0 >= w) {
      row_tile_rows<T, kRowTile, 1>(rows, Ai, k0, k1, b + j0, ldb, ci + j0, C.ld, accumulate, w);
      j0 += w;
    }
    if (j0 < n && !thin_tail) {  // ragged last columns [j0, n): a zero-padded K x W panel, copied once
      if (j0 != panel_j0 || n != panel_end) {
        for (int k = 0; k < K; ++k) {
          T* row = panel + std::ptrdiff_t(k) * w;
          for (int j = 0; j < w; ++j) row[j] = j0 + j < n ? b[k * ldb + j0 + j] : T(0);
        }
        panel_j0 = j0, panel_end = n;
      }
      row_tile_rows<T, kRowTile, 1>(rows, Ai, k0, k1, panel, w, ci + j0, C.ld, accumulate, n - j0);
    }
  }
}

// Which input vector's sum each lane of xsimd::haddp holds (xsimd 8.1 on AVX-512 returns them
// permuted, e.g. lane 2 holds row 4): found once by reducing unit vectors.
template <class T>
const std::array<int, W<T>>& haddp_lane_rows() {
  static const std::array<int, W<T>> rows = [] {
    Vec<T> unit[W<T>];
    for (int r = 0; r < W<T>; ++r) unit[r] = Vec<T>(T(r));
    alignas(64) T lanes[W<T>];
    xsimd::haddp(unit).store_aligned(lanes);
    std::array<int, W<T>> out{};
    for (int l = 0; l < W<T>; ++l) out[l] = int(lanes[l] / T(W<T>) + T(0.5));  // sum of W copies of r
    return out;
  }();
  return rows;
}

// C[MI, NJ] (+)= A_rows . B_rows over [k0, k1), both rows contiguous in k.
template <class T, int MI, int NJ>
void dot_tile(const T* a, std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, int k0, int k1, T* c,
              std::ptrdiff_t ldc, bool accumulate) {
  constexpr int w = W<T>;
  Vec<T> s[MI][NJ];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) s[i][j] = Vec<T>(T(0));
  int k = k0;
  for (; k + w <= k1; k += w) {
    Vec<T> av[MI], bv[NJ];
    for (int i = 0; i < MI; ++i) av[i] = Vec<T>::load_unaligned(a + i * lda + k);
    for (int j = 0; j < NJ; ++j) bv[j] = Vec<T>::load_unaligned(b + j * ldb + k);
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < NJ; ++j) s[i][j] = xsimd::fma(av[i], bv[j], s[i][j]);
  }
  T sums[MI][NJ];
  if constexpr (MI * NJ == w) {  // one tile = one vector of sums: reduce all lanes together
    alignas(64) T lanes[w];
    xsimd::haddp(&s[0][0]).store_aligned(lanes);
    const auto& row_of_lane = haddp_lane_rows<T>();
    for (int l = 0; l < w; ++l) (&sums[0][0])[row_of_lane[l]] = lanes[l];
  } else {
    for (int i = 0; i < MI; ++i)
      for (int j = 0; j < NJ; ++j) sums[i][j] = xsimd::hadd(s[i][j]);
  }
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) {
      T sum = sums[i][j];
      for (int kk = k; kk < k1; ++kk) sum += a[i * lda + kk] * b[j * ldb + kk];
      T& out = c[i * ldc + j];
      out = accumulate ? out + sum : sum;
    }
}

// Dot tiles: 4 x 4 sums and 8 operands per k step (AVX-512), 4 x 2 and 6 (16 registers).
constexpr int kDotRows = 4;
constexpr int kDotCols = kManyRegisters ? 4 : 2;

template <class T, int MI, int NJ>
void dot_tile_cols(int cols, const T* a, std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, int k0, int k1, T* c,
                   std::ptrdiff_t ldc, bool accumulate) {
  if constexpr (NJ > 1) {
    if (cols < NJ) return dot_tile_cols<T, MI, NJ - 1>(cols, a, lda, b, ldb, k0, k1, c, ldc, accumulate);
  }
  dot_tile<T, MI, NJ>(a, lda, b, ldb, k0, k1, c, ldc, accumulate);
}

template <class T, int MI>
void dot_tile_rows(int rows, int cols, const T* a, std::ptrdiff_t lda, const T* b, std::ptrdiff_t ldb, int k0,
                   int k1, T* c, std::ptrdiff_t ldc, bool accumulate) {
  if constexpr (MI > 1) {
    if (rows < MI) return dot_tile_rows<T, MI - 1>(rows, cols, a, lda, b, ldb, k0, k1, c, ldc, accumulate);
  }
  dot_tile_cols<T, MI, kDotCols>(cols, a, lda, b, ldb, k0, k1, c, ldc, accumulate);
}

// C (+)= A Bs^T with A and Bs (N x K) stored by rows.
template <class T, class ColEnd>
void by_dots(MatView<T> C, MatView<const T> A, MatView<const T> Bs, bool accumulate, Zeros z, ColEnd col_end) {
  const int K = A.cols;
  // B's kDotCols rows stay in L1 while all of A's row blocks pass (A [C x K] fits L1 too).
  const int n_max = col_end(std::max(0, C.rows - 1), 1);
  for (int j0 = 0; j0 < n_max; j0 += kDotCols)
    for (int i0 = 0; i0 < C.rows; i0 += kDotRows) {
      const int rows = std::min(kDotRows, C.rows - i0), n = col_end(i0, rows);
      if (n <= j0) continue;
      int k0, k1;
      k_range(z, i0, rows, K, k0, k1);
      dot_tile_rows<T, kDotRows>(rows, std::min(kDotCols, n - j0), A.data + std::ptrdiff_t(i0) * A.ld, A.ld,
                              Bs.data + std::ptrdiff_t(j0) * Bs.ld, Bs.ld, k0, k1,
                              C.data + std::ptrdiff_t(i0) * C.ld + j0, C.ld, accumulate);
    }
}

template <class T, class ColEnd>
void small_product(const char* op, MatView<T> C, MatView<const T> A, MatView<const T> B, bool accumulate, Zeros z,
                   ColEnd col_end) {
  if (C.transposed || A.cols != B.rows || A.rows != C.rows || B.cols != C.cols || C.ld < C.stored_cols() ||
      A.ld < A.stored_cols() || B.ld < B.stored_cols())
    detail::gemm_shape_error(op, C, A, B);
  if (z != Zeros::none && A.rows != A.cols)
    throw std::invalid_argument(fmt::format("{}: known zeros need a square A, got [{},{}]", op, A.rows, A.cols));
  const int K = A.cols;
  if (C.rows == 0 || C.cols == 0) return;
  if (K == 0) {
    if (!accumulate)
      for (int i = 0; i < C.rows; ++i) std::fill(C.row(i), C.row(i) + C.cols, T(0));
    return;
  }
  const AReader<T> a{A.data, A.transposed ? 1 : A.ld, A.transposed ? A.ld : 1};
  if (!B.transposed) {
    // A thin tail needs the same columns in every row (not tril) and A contiguous one way.
    const bool thin = col_end(0, 1) == C.cols && (a.k_step == 1 || a.row_step == 1) && C.cols % W<T> != 0;
    by_rows(C, a, K, B.data, B.ld, accumulate, z, col_end, thin);
    if (thin) thin_tail(C, a, K, B.data, B.ld, accumulate, z, C.cols - C.cols % W<T>);
    return;
  }
  if (!A.transposed) return by_dots(C, A, B.T(), accumulate, z, col_end);
  T* b = scratch<T>(std::size_t(K) * C.cols, 1);  // op(B) by rows
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < C.cols; ++j) b[std::size_t(k) * C.cols + j] = B.data[std::ptrdiff_t(j) * B.ld + k];
  by_rows(C, a, K, b, C.cols, accumulate, z, col_end, false);
}

}  // namespace

template <class T>
void small_gemm_set(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B) {
  small_product<T>("small_gemm_set", C, A, B, false, Zeros::none, [&](int, int) { return C.cols; });
}

template <class T>
void small_gemm_acc(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B,
                    Zeros a_zeros) {
  small_product<T>("small_gemm_acc", C, A, B, true, a_zeros, [&](int, int) { return C.cols; });
}

template <class T>
void small_gemm_tril(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B) {
  if (C.rows != C.cols)
    throw std::invalid_argument(fmt::format("small_gemm_tril: C must be square, got [{},{}]", C.rows, C.cols));
  // Row block [i0, i0 + rows) has nonzeros in columns j <= i0 + rows - 1. Read by rows, the
  // block's columns run on to a whole vector (the zeros above the diagonal are written below):
  // a ragged end would cost a padded panel copied for each row block.
  const int round = B.transposed ? 1 : W<T>;
  small_product<T>("small_gemm_tril", C, A, B, false, Zeros::none, [&](int i0, int rows) {
    return std::min(C.cols, (i0 + rows + round - 1) / round * round);
  });
  for (int i = 0; i < C.rows; ++i) std::fill(C.row(i) + i + 1, C.row(i) + C.cols, T(0));
}

#define PF_SMALL_GEMM(T)                                                                            \
  template void small_gemm_set<T>(MatView<T>, MatView<const T>, MatView<const T>);                  \
  template void small_gemm_acc<T>(MatView<T>, MatView<const T>, MatView<const T>, Zeros);           \
  template void small_gemm_tril<T>(MatView<T>, MatView<const T>, MatView<const T>);
PF_SMALL_GEMM(float)
PF_SMALL_GEMM(double)
#undef PF_SMALL_GEMM

}  // namespace pf
