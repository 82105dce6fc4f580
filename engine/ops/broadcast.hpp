// Internal helpers for walking broadcast (or any strided) index patterns over a contiguous
// output. Used by elementwise ops, masked_fill and permute; not part of the public API.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/core/tensor.hpp"

namespace pf::detail {

// Element strides of `in` laid over `out` (0 on broadcast axes); `in` must broadcast to `out`.
inline std::vector<std::size_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<std::size_t> strides(out.size(), 0);
  std::size_t stride = 1;
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::size_t i = in.size() - 1 - k, o = out.size() - 1 - k;
    strides[o] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  return strides;
}

// Calls f(out_index, index_a, index_b) for every element of `out` in row-major order, where
// index_a / index_b follow the per-axis strides sa / sb. The innermost axis is a tight loop;
// only the outer axes step an odometer.
template <class F>
void for_each_broadcast(const Shape& out, const std::vector<std::size_t>& sa,
                        const std::vector<std::size_t>& sb, F f) {
  const std::size_t rank = out.size();
  const std::size_t n = shape_numel(out);
  if (n == 0) return;
  if (rank == 0) {
    f(0, 0, 0);
    return;
  }
  const std::size_t inner = out[rank - 1], ia_step = sa[rank - 1], ib_step = sb[rank - 1];
  std::vector<std::size_t> counter(rank, 0);
  std::size_t ia = 0, ib = 0;
  for (std::size_t base = 0; base < n; base += inner) {
    for (std::size_t j = 0; j < inner; ++j) f(base + j, ia + j * ia_step, ib + j * ib_step);
    // Advance the outer counters (odometer), keeping ia/ib in step.
    for (std::size_t ax = rank - 1; ax-- > 0;) {
      ++counter[ax];
      ia += sa[ax];
      ib += sb[ax];
      if (counter[ax] < out[ax]) break;
      ia -= sa[ax] * out[ax];
      ib -= sb[ax] * out[ax];
      counter[ax] = 0;
    }
  }
}

}  // namespace pf::detail
