// Small products on the calling thread, without packing: the chunked causal FAVOR+ form makes
// thousands of [C x M] x [M x dv] products per call (C ~ 32, M ~ 256, dv ~ 64), where the packed
// GEMM's packing, cost model and dispatch take about as long as the arithmetic.
//   - op(B) read by rows (B not transposed): C += sum_k A(i, k) B(k, :), a register tile of C rows
//     times vectors of B's row, A broadcast element by element (A transposed or not costs the
//     same); a ragged last column block is copied into a zero-padded panel.
//   - op(B) = B^T with A not transposed: C(i, j) = A's row i . B's stored row j, vectorised
//     over k (both rows are contiguous).
//   - A^T B^T: op(B) is copied into a row-major scratch, then as the first case.
// Triangular knowledge skips work: `Zeros` says which part of a square op(A) is known to be zero
// (the skipped terms are exact zeros, so the result is the full product's), and small_gemm_tril
// computes only the lower triangle of the output.
// Single-threaded and in a fixed order, so the result never depends on the thread count.
// Checked by tests/engine/kernels/test_small_gemm.cpp against a float64 loop.
#pragma once

#include "engine/kernels/gemm.hpp"

namespace pf {

enum class Zeros { none, above_diagonal, below_diagonal };  // of op(A), which must then be square

// C = A B.
template <class T>
void small_gemm_set(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B);
// C += A B (A's known zeros skipped).
template <class T>
void small_gemm_acc(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B,
                    Zeros a_zeros = Zeros::none);
// C = tril(A B): the lower triangle (j <= i) of the product, zeros above it; C square.
template <class T>
void small_gemm_tril(MatView<T> C, MatView<const detail::same_t<T>> A, MatView<const detail::same_t<T>> B);

}  // namespace pf
