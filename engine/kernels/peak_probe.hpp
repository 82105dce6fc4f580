// The machine's float32 FMA ceiling, measured: the number every utilisation figure is a fraction
// of (bench/roofline prints it; the other benchmarks and the training programs divide by it).
//
// Each of `threads` threads runs independent chains of fused multiply-adds on the widest xsimd
// vectors the build targets (enough chains to hide the FMA latency on two FMA ports), in short
// bursts (about 2 ms) that start together; the peak is the best burst (the least disturbed one), counting
// 2 FLOPs per multiply-add. The threads are plain std::threads, not the engine's pool, so the
// probe measures the cores and not the pool's scheduling.
#pragma once

#include <string>

namespace pf {

struct FmaPeak {
  int threads = 0;
  double gflops = 0;        // best burst: FLOPs of all threads / wall time of the slowest thread
  double burst_seconds = 0; // wall time of that best burst
  double probe_seconds = 0; // the whole measurement, calibration included
  int bursts = 0;
  int vector_bits = 0;      // width of the xsimd float batch the build uses (512 = AVX-512)
};

// Measures for about `seconds` (calibration included). Throws std::invalid_argument for
// threads < 1 or seconds not > 0. Not cached.
FmaPeak measure_fma_peak(int threads, double seconds);

// The probe every report uses: measure_fma_peak(threads, kFmaProbeSeconds) on the first call for
// this thread count, the same numbers afterwards (cached per process; thread-safe).
constexpr double kFmaProbeSeconds = 0.08;
const FmaPeak& fma_peak(int threads);

// The CPU's model name from /proc/cpuinfo ("unknown" when it cannot be read).
std::string cpu_model_name();

}  // namespace pf
