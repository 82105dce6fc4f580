// dst = src^T for row-major views, on the calling thread, in 8 x 8 blocks: a row-by-row copy
// writes every element a full row of dst apart, and with a power-of-two length those writes
// fall on a few cache sets (measured 8x slower at [256 x 64]). The chunked causal FAVOR+ form
// transposes a slice's K' once so that its per-block score products read it by rows.
// Checked by tests/engine/kernels/test_transpose.cpp.
#pragma once

#include "engine/kernels/gemm.hpp"

namespace pf {

// dst [src.cols x src.rows] = src^T; neither view may be a transposed one.
template <class T>
void transpose_into(MatView<T> dst, MatView<const detail::same_t<T>> src);

}  // namespace pf
