#include "engine/kernels/peak_probe.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

namespace pf {
namespace {

using Batch = xsimd::batch<float>;
using Clock = std::chrono::steady_clock;
// Independent accumulators: FMA latency (4-5 cycles) x 2 FMA ports, plus slack, and with the
// two constants within the vector registers (32 with AVX-512, 16 below): 16 chains on AVX2 spill
// to the stack, and a Zen 3 core then read half its peak (55 GFLOP/s, under its own GEMM's 66).
constexpr int kChains = Batch::size >= 16 ? 16 : 12;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// kChains x `iterations` vector FMAs; the result is returned so that nothing is elided.
float fma_chains(long iterations, float seed) {
  Batch acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Batch(seed + float(c) * 1e-3f);
  const Batch a(0.999999f), b(1e-7f);
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], a, b);
  Batch total(0.0f);
  for (int c = 0; c < kChains; ++c) total += acc[c];
  return xsimd::hadd(total);
}

std::atomic<float> g_sink{0};

// Runs fma_chains(iterations) on `threads` threads released together; returns the wall seconds
// of the slowest (each thread times itself from the release, so thread start-up is not counted).
double burst(int threads, long iterations) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> seconds(std::size_t(threads), 0.0);
  std::vector<std::thread> pool;
  pool.reserve(std::size_t(threads));
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const auto t0 = Clock::now();
      const float r = fma_chains(iterations, float(t));
      seconds[std::size_t(t)] = seconds_since(t0);
      g_sink.store(g_sink.load(std::memory_order_relaxed) + r, std::memory_order_relaxed);
    });
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true);
  for (auto& th : pool) th.join();
  return *std::max_element(seconds.begin(), seconds.end());
}

}  // namespace

FmaPeak measure_fma_peak(int threads, double seconds) {
  if (threads < 1 || !(seconds > 0))
    throw std::invalid_argument(
        fmt::format("measure_fma_peak: need threads >= 1 and seconds > 0, got threads {} and seconds {}", threads, seconds));
  const auto start = Clock::now();
  // Calibrate on one thread: grow the burst until it is long enough to time, then scale it to
  // 2 ms (less for a budget under 40 ms): short enough that on a shared machine some bursts
  // fall inside one scheduler time slice, so the best burst is still the undisturbed rate.
  long iterations = 1 << 12;
  double t = burst(1, iterations);
  while (t < 5e-4 && iterations < (1L << 40)) iterations *= 4, t = burst(1, iterations);
  const double target = std::min(seconds / 20, 0.002);
  iterations = std::max(1L, long(double(iterations) * target / std::max(t, 1e-9)));
  const double flops = 2.0 * kChains * double(Batch::size) * double(iterations) * threads;

  FmaPeak peak;
  peak.threads = threads;
  peak.vector_bits = int(Batch::size * 32);
  while (peak.bursts < 5 || seconds_since(start) < seconds) {
    const double s = burst(threads, iterations);
    ++peak.bursts;
    if (peak.burst_seconds == 0 || s < peak.burst_seconds) peak.burst_seconds = s;
  }
  peak.gflops = flops / peak.burst_seconds / 1e9;
  peak.probe_seconds = seconds_since(start);
  return peak;
}

const FmaPeak& fma_peak(int threads) {
  static std::mutex mutex;
  static std::map<int, FmaPeak> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(threads);
  if (it == cache.end()) it = cache.emplace(threads, measure_fma_peak(threads, kFmaProbeSeconds)).first;
  return it->second;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return line.substr(std::min(line.size(), line.find(':') + 2));
  return "unknown";
}

}  // namespace pf
