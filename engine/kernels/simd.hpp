// Internal: apply a function to contiguous arrays in xsimd batches (AVX-512/AVX2/SSE, whatever
// the build targets). The function is written once, for batches; the tail that does not fill a
// batch is padded into one, so there is no separate scalar version to keep in sync.
#pragma once

#include <algorithm>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "engine/kernels/thread_pool.hpp"

namespace pf::detail {

template <class T>
using Batch = xsimd::batch<T>;

// Arrays at least this long are split over the thread pool (below, waking a thread costs more).
constexpr std::size_t kParallelGrain = std::size_t(1) << 15;

// out[i] = f(a[i]) on one thread
template <class T, class F>
void simd_map_serial(const T* a, T* out, std::size_t n, F f) {
  constexpr std::size_t W = Batch<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) f(Batch<T>::load_unaligned(a + i)).store_unaligned(out + i);
  if (i < n) {
    alignas(64) T ta[W] = {}, to[W];
    std::copy(a + i, a + n, ta);
    f(Batch<T>::load_unaligned(ta)).store_unaligned(to);
    std::copy(to, to + (n - i), out + i);
  }
}

// out[i] = f(a[i])
template <class T, class F>
void simd_map(const T* a, T* out, std::size_t n, F f) {
  parallel_ranges(n, kParallelGrain, [&](std::size_t b, std::size_t e) { simd_map_serial(a + b, out + b, e - b, f); });
}

// acc[i] += f(a[i], b[i], c[i]) on one thread
template <class T, class F>
void simd_accumulate3_serial(const T* a, const T* b, const T* c, T* acc, std::size_t n, F f) {
  constexpr std::size_t W = Batch<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const Batch<T> r = Batch<T>::load_unaligned(acc + i) +
                       f(Batch<T>::load_unaligned(a + i), Batch<T>::load_unaligned(b + i),
                         Batch<T>::load_unaligned(c + i));
    r.store_unaligned(acc + i);
  }
  if (i < n) {
    alignas(64) T ta[W] = {}, tb[W] = {}, tc[W] = {}, tr[W];
    std::copy(a + i, a + n, ta);
    std::copy(b + i, b + n, tb);
    std::copy(c + i, c + n, tc);
    f(Batch<T>::load_unaligned(ta), Batch<T>::load_unaligned(tb), Batch<T>::load_unaligned(tc)).store_unaligned(tr);
    for (std::size_t j = 0; j < n - i; ++j) acc[i + j] += tr[j];
  }
}

// acc[i] += f(a[i], b[i], c[i])
template <class T, class F>
void simd_accumulate3(const T* a, const T* b, const T* c, T* acc, std::size_t n, F f) {
  parallel_ranges(n, kParallelGrain, [&](std::size_t s, std::size_t e) {
    simd_accumulate3_serial(a + s, b + s, c + s, acc + s, e - s, f);
  });
}

}  // namespace pf::detail
