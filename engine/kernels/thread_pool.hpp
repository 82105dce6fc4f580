// A small persistent thread pool for the engine's parallel loops (GEMM tiles, attention slices).
//
// Why not std::thread per call: a training step makes hundreds of parallel calls of 10-100 us
// each; creating threads costs about as much as the work. Why not OpenMP: one fewer runtime to
// configure, and the engine controls exactly which loops run in parallel.
//
// Results never depend on the thread count's scheduling: every index is computed entirely by one
// thread, so a run is bit-exact at a given thread count (and callers that keep reductions inside
// one index are bit-exact across thread counts too).
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <thread>

namespace pf {

// Threads used by parallel_for and by the BLAS library (0 or negative: leave unchanged).
// The default is 1 until set, for the BLAS library too (OpenBLAS would otherwise start on every core);
// on 1 thread OpenBLAS's own worker threads are stopped, so call it while no other thread runs BLAS.
// More threads than usable_cpus() are allowed (results stay bit-exact at a thread count), but
// then the threads' waits yield at once instead of spinning, since a spinning thread would hold
// the core its partner needs.
void set_num_threads(int threads);
int num_threads();

// CPUs this process may run on (its affinity mask, so `taskset` and MPI core binding count),
// at least 1.
int usable_cpus();

// False when num_threads() > usable_cpus(): waits then yield instead of spinning.
bool spinning_allowed();

// Runs fn(i) for every i in [0, n), spread over num_threads() threads (the caller is one of
// them), and returns when all are done. Indices are handed out dynamically; fn must write
// disjoint memory per index. A parallel_for inside fn runs serially on the calling thread.
// The first exception thrown by fn is rethrown here after the loop has drained.
void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn);

// Runs fn(begin, end) over [0, n) cut into contiguous chunks of at least `grain` indices (chunk
// starts are multiples of 64, so SIMD loops inside keep full vectors), in parallel when there is
// enough work for more than one chunk. For elementwise loops: no reductions across chunks.
template <class F>
void parallel_ranges(std::size_t n, std::size_t grain, F fn) {
  const std::size_t threads = std::size_t(num_threads());
  if (threads <= 1 || n < 2 * grain) {
    fn(std::size_t(0), n);
    return;
  }
  const std::size_t chunks = std::min(n / grain, 4 * threads);
  const std::size_t step = (n / chunks + 63) / 64 * 64;
  parallel_for((n + step - 1) / step, [&](std::size_t c) { fn(c * step, std::min(n, (c + 1) * step)); });
}

// Rows of `width` values per parallel_ranges chunk so that a chunk holds about `values` values
// (at least one row): the grain for row-wise loops.
inline std::size_t rows_per_task(std::size_t width, std::size_t values = std::size_t(1) << 15) {
  return std::max<std::size_t>(1, values / std::max<std::size_t>(width, 1));
}

// True while the calling thread executes inside a parallel_for with more than one thread.
bool inside_parallel_region();

// Returns once ready() is true, for threads of one parallel_for waiting on each other: a pause
// loop first (a yield is a system call of about a microsecond, as long as a decoder phase's
// whole wait), then yields (after ~0.1 ms), so a partner thread that lost its core gets it back.
template <class Ready>
void wait_until(Ready ready) {
  constexpr int kPausesBeforeYield = 2048;
  for (int pauses = spinning_allowed() ? 0 : kPausesBeforeYield; !ready();) {
#if defined(__x86_64__) || defined(__i386__)
    if (pauses < kPausesBeforeYield) {
      ++pauses;
      __builtin_ia32_pause();
      continue;
    }
#endif
    std::this_thread::yield();
  }
}

}  // namespace pf
