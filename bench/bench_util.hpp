// Small helpers shared by the benchmarks: timing and JSON-lines output.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pf::bench {

// Median wall time in seconds of `repeats` calls of f, after `warmup` untimed calls.
template <class F>
double median_seconds(F&& f, int repeats, int warmup = 1) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Median times of f and g measured interleaved (f, g, f, g, ...), so that load from other
// processes hits both alike; the ratio of the two is what a benchmark should report.
template <class F, class G>
std::pair<double, double> interleaved_median_seconds(F&& f, G&& g, int repeats, int warmup = 1) {
  for (int i = 0; i < warmup; ++i) f(), g();
  std::vector<double> tf, tg;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    g();
    auto t2 = std::chrono::steady_clock::now();
    tf.push_back(std::chrono::duration<double>(t1 - t0).count());
    tg.push_back(std::chrono::duration<double>(t2 - t1).count());
  }
  std::sort(tf.begin(), tf.end());
  std::sort(tg.begin(), tg.end());
  return {tf[tf.size() / 2], tg[tg.size() / 2]};
}

// Median times of f (all its repeats) and then g (all its repeats), then a pause of `settle`
// seconds. For a g whose idle threads keep spinning after it returns (OpenBLAS's workers spin
// for a while after each call, and would take the cores from an f timed right after).
template <class F, class G>
std::pair<double, double> phased_median_seconds(F&& f, G&& g, int repeats, double settle = 0.2) {
  const double tf = median_seconds(f, repeats);
  const double tg = median_seconds(g, repeats);
  std::this_thread::sleep_for(std::chrono::duration<double>(settle));
  return {tf, tg};
}

// Threads from the first argument, else the environment's PF_THREADS, else 2.
inline int threads_from(int argc, char** argv) {
  if (argc > 1) return std::atoi(argv[1]);
  if (const char* env = std::getenv("PF_THREADS")) return std::atoi(env);
  return 2;
}

}  // namespace pf::bench
