// Roofline probe: what this machine can do at most, so that every other benchmark can say what
// fraction of it a kernel reaches. Two ceilings:
//   - float32 FMA throughput for 1 .. max threads at once: pf::fma_peak
//     (engine/kernels/peak_probe.hpp), the same probe, with the same short measurement, that the
//     other benchmarks and the training programs divide by ("peak_gflops" in their JSON);
//   - memory bandwidth: a sum over (read) and a scaled copy of (read + write) arrays far larger
//     than the caches, split over 1 .. max threads.
// One JSON object per line:
//   {"bench":"roofline","kind":"fma_f32","threads":t,"gflops":..,"vector_bits":512,"seconds":..,
//    "cpu":"...","openblas_coretype":"...","probe_s":..,"bursts":..}   (seconds: the best burst)
//   {"bench":"roofline","kind":"read"|"copy","threads":t,"gbytes_per_s":..,"bytes":..}
// Usage: roofline [max_threads] (default: the hardware threads). Run it on a quiet machine.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include "engine/kernels/peak_probe.hpp"

using namespace pf;

namespace {

using Batch = xsimd::batch<float>;

// Runs fn(thread index) on `threads` threads that start together; returns the wall seconds of
// the slowest.
template <class F>
double run_threads(int threads, F fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  std::vector<double> seconds(std::size_t(threads), 0.0);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const auto t0 = std::chrono::steady_clock::now();
      fn(t);
      seconds[std::size_t(t)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true);
  for (auto& th : pool) th.join();
  return *std::max_element(seconds.begin(), seconds.end());
}

volatile float g_sink = 0;

void print_fma_peak(int threads, const std::string& cpu) {
  const FmaPeak& peak = fma_peak(threads);
  fmt::print("{{\"bench\":\"roofline\",\"kind\":\"fma_f32\",\"threads\":{},\"gflops\":{:.1f},\"vector_bits\":{},"
             "\"seconds\":{:.4f},\"cpu\":\"{}\",\"openblas_coretype\":\"{}\",\"probe_s\":{:.3f},\"bursts\":{}}}\n",
             threads, peak.gflops, peak.vector_bits, peak.burst_seconds, cpu,
             std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset", peak.probe_seconds,
             peak.bursts);
}

void probe_memory(int threads) {
  const std::size_t n = std::size_t(64) << 20;  // 64 Mi floats = 256 MiB per array
  std::vector<float> x(n, 1.0f), y(n, 0.0f);
  const std::size_t per = (n + std::size_t(threads) - 1) / std::size_t(threads);
  std::vector<double> partial(static_cast<std::size_t>(threads));
  auto read = [&](int t) {
    const std::size_t lo = std::size_t(t) * per, hi = std::min(n, lo + per);
    Batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);  // four sums: the adds' latency stays hidden
    constexpr std::size_t W = Batch::size;
    std::size_t i = lo;
    for (; i + 4 * W <= hi; i += 4 * W) {
      s0 += Batch::load_unaligned(&x[i]);
      s1 += Batch::load_unaligned(&x[i + W]);
      s2 += Batch::load_unaligned(&x[i + 2 * W]);
      s3 += Batch::load_unaligned(&x[i + 3 * W]);
    }
    double s = xsimd::hadd((s0 + s1) + (s2 + s3));
    for (; i < hi; ++i) s += x[i];
    partial[std::size_t(t)] = s;
  };
  auto copy = [&](int t) {
    const std::size_t lo = std::size_t(t) * per, hi = std::min(n, lo + per);
    std::size_t i = lo;
    for (; i + Batch::size <= hi; i += Batch::size) (Batch::load_unaligned(&x[i]) * 2.0f).store_unaligned(&y[i]);
    for (; i < hi; ++i) y[i] = 2.0f * x[i];
  };
  for (const char* kind : {"read", "copy"}) {
    const bool is_read = std::string(kind) == "read";
    std::vector<double> runs;
    for (int repeat = 0; repeat < 5; ++repeat)
      runs.push_back(is_read ? run_threads(threads, read) : run_threads(threads, copy));
    std::sort(runs.begin(), runs.end());
    const double bytes = double(n) * sizeof(float) * (is_read ? 1.0 : 2.0);
    fmt::print("{{\"bench\":\"roofline\",\"kind\":\"{}\",\"threads\":{},\"gbytes_per_s\":{:.2f},\"bytes\":{:.0f}}}\n",
               kind, threads, bytes / runs.front() / 1e9, bytes);
  }
  g_sink = g_sink + float(partial[0]) + y[n / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int hardware = int(std::max(1u, std::thread::hardware_concurrency()));
  const int max_threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : hardware;
  const std::string cpu = cpu_model_name();
  for (int t = 1; t <= max_threads; ++t) print_fma_peak(t, cpu);
  for (int t = 1; t <= max_threads; ++t) probe_memory(t);
  return 0;
}
