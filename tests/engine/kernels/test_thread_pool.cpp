#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/gemm.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "test_util.hpp"

using namespace pf;
using pf::test::ThreadsFor;

TEST_CASE("parallel_for visits every index exactly once", "[engine][threads]") {
  for (int threads : {1, 2, 3}) {
    ThreadsFor scope(threads);
    for (std::size_t n : {0u, 1u, 2u, 7u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      parallel_for(n, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
    }
  }
}

TEST_CASE("parallel_for runs work on the pool's threads, not only on the caller", "[engine][threads]") {
  ThreadsFor scope(3);
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<std::thread::id> ran_on(48);
  std::vector<int> flagged(48, 0);
  parallel_for(ran_on.size(), [&](std::size_t i) {
    ran_on[i] = std::this_thread::get_id();
    flagged[i] = inside_parallel_region() ? 1 : 0;  // set by the thread running index i
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // long enough for every worker to take some
  });
  std::set<std::thread::id> threads(ran_on.begin(), ran_on.end());
  CHECK(threads.size() >= 2);
  CHECK(std::count(ran_on.begin(), ran_on.end(), caller) < std::ptrdiff_t(ran_on.size()));
  CHECK(threads.size() <= 3);
  CHECK(std::count(flagged.begin(), flagged.end(), 1) == 48);
  // One thread: everything on the caller, outside any parallel region.
  ThreadsFor serial(1);
  parallel_for(ran_on.size(), [&](std::size_t i) { ran_on[i] = std::this_thread::get_id(); });
  CHECK(std::count(ran_on.begin(), ran_on.end(), caller) == std::ptrdiff_t(ran_on.size()));
}

// On 2 threads the caller takes indices from the front and the worker from the back, so each
// core gets the same end of every loop over rows (and finds those rows in its own cache). Which
// thread takes how many depends on timing; that the caller's are a prefix does not.
TEST_CASE("parallel_for on 2 threads: the caller runs a prefix of the indices, the worker the rest",
          "[engine][threads]") {
  ThreadsFor scope(2);
  const std::thread::id caller = std::this_thread::get_id();
  for (int round = 0; round < 20; ++round) {
    std::vector<int> on_caller(64, -1);
    parallel_for(on_caller.size(), [&](std::size_t i) {
      on_caller[i] = std::this_thread::get_id() == caller ? 1 : 0;
      if (round % 2) std::this_thread::sleep_for(std::chrono::microseconds(200));  // let the worker take some
    });
    const auto first_other = std::find(on_caller.begin(), on_caller.end(), 0);
    REQUIRE(std::count(on_caller.begin(), on_caller.end(), -1) == 0);
    INFO("round " << round);
    REQUIRE(std::count(first_other, on_caller.end(), 1) == 0);
  }
}

TEST_CASE("parallel_for marks its region and runs nested loops serially", "[engine][threads]") {
  ThreadsFor scope(2);
  REQUIRE(num_threads() == 2);
  std::atomic<int> inside{0}, nested{0};
  parallel_for(64, [&](std::size_t) {
    if (inside_parallel_region()) inside.fetch_add(1);
    parallel_for(3, [&](std::size_t) { nested.fetch_add(1); });
  });
  CHECK(inside.load() == 64);
  CHECK(nested.load() == 64 * 3);
  CHECK_FALSE(inside_parallel_region());
}

TEST_CASE("parallel_for rethrows the first exception and stays usable", "[engine][threads]") {
  ThreadsFor scope(2);
  REQUIRE_THROWS_WITH(parallel_for(100,
                                   [](std::size_t i) {
                                     if (i == 17) throw std::runtime_error("index 17 failed");
                                   }),
                      "index 17 failed");
  std::atomic<int> count{0};
  parallel_for(10, [&](std::size_t) { count.fetch_add(1); });
  CHECK(count.load() == 10);
}

TEST_CASE("wait_until returns once another thread makes it ready, past the pause phase too", "[engine][threads]") {
  std::atomic<int> calls{0};
  wait_until([&] { return ++calls > 0; });  // ready at once: one look
  CHECK(calls.load() == 1);
  for (const auto delay : {std::chrono::microseconds(0), std::chrono::microseconds(20000)}) {
    std::atomic<bool> flag{false};
    std::atomic<long> looks{0};
    std::thread setter([&] {
      std::this_thread::sleep_for(delay);
      flag.store(true, std::memory_order_release);
    });
    wait_until([&] {
      ++looks;
      return flag.load(std::memory_order_acquire);
    });
    setter.join();
    CHECK(flag.load());
    CHECK(looks.load() >= 1);
  }
}

extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int);

// Two threads that take turns can stay on one CPU (the scheduler never sees both runnable), and
// then each hand-off waits for a spin to time out. A worker that wakes on the caller's CPU moves.
TEST_CASE("parallel_for: a worker that finds itself on the caller's CPU moves to another", "[engine][threads]") {
  if (usable_cpus() < 2) {
    WARN("one usable CPU: nothing to move to, the check did not run");
    return;
  }
  ThreadsFor scope(2);
  cpu_set_t all, one;
  REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
  const int cpu = sched_getcpu();
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);  // the caller stays on `cpu`
  // Both indices at once (each waits for the other), so index 1 runs on the worker.
  const auto both_at_once = [](const std::function<void(std::size_t)>& fn) {
    std::atomic<int> arrived{0};
    parallel_for(2, [&](std::size_t i) {
      arrived.fetch_add(1);
      wait_until([&] { return arrived.load() == 2; });
      fn(i);
    });
  };
  std::vector<int> worker_cpus;
  for (int round = 0; round < 5; ++round) {
    // Put the worker on the caller's CPU, with its mask back to all CPUs (so only a move takes it off).
    both_at_once([&](std::size_t i) {
      if (i == 1 && sched_setaffinity(0, sizeof(one), &one) == 0) sched_setaffinity(0, sizeof(all), &all);
    });
    both_at_once([&](std::size_t i) {
      if (i == 1) worker_cpus.push_back(sched_getcpu());
    });
  }
  REQUIRE(sched_setaffinity(0, sizeof(all), &all) == 0);
  INFO("caller on CPU " << cpu);
  for (const int w : worker_cpus) CHECK(w != cpu);
  CHECK(worker_cpus.size() == 5);
}

TEST_CASE("set_num_threads sets the BLAS library's threads even when the engine's count is unchanged",
          "[engine][threads]") {
  ThreadsFor one(1);
  openblas_set_num_threads(2);  // e.g. OpenBLAS's own start-up default of one thread per core
  set_num_threads(1);
  CHECK(openblas_get_num_threads() == 1);
}

namespace {
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
}  // namespace

// OpenBLAS's workers spin for ~0.1 s after each call they served; on one engine thread none may be
// left to spin beside the caller (it slowed a single-threaded decoder by 15-25 %).
TEST_CASE("set_num_threads(1) stops the BLAS library's worker threads: an idle process uses no CPU",
          "[engine][threads]") {
  ThreadsFor one(1);
  set_num_threads(2);
  // A double product big enough for OpenBLAS to split over its threads, which wakes its worker.
  const int n = 256;
  std::vector<double> a(std::size_t(n) * n, 1.0), b(a), c(a.size(), 0.0);
  gemm<double>(false, false, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
  REQUIRE(c[0] == double(n));
  set_num_threads(1);
  const double start = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const double idle_cpu = process_cpu_seconds() - start;
  INFO("CPU time used by the process while its only thread slept 150 ms: " << idle_cpu << " s");
  CHECK(idle_cpu < 0.02);
  // OpenBLAS starts its threads again when asked for more.
  set_num_threads(2);
  gemm<double>(false, false, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
  CHECK(c[n * n - 1] == double(n));
}

TEST_CASE("usable_cpus follows the affinity mask; more threads than CPUs wait without spinning",
          "[engine][threads]") {
  ThreadsFor scope(1);
  const int cpus = usable_cpus();
  CHECK(cpus >= 1);
  CHECK(cpus <= int(std::max(1u, std::thread::hardware_concurrency())));
  set_num_threads(cpus);
  CHECK(spinning_allowed());
  set_num_threads(cpus + 1);
  CHECK_FALSE(spinning_allowed());
  std::vector<std::atomic<int>> visits(257);
  parallel_for(visits.size(), [&](std::size_t i) { ++visits[i]; });
  CHECK(std::all_of(visits.begin(), visits.end(), [](const std::atomic<int>& v) { return v.load() == 1; }));
  std::atomic<bool> flag{false};
  std::thread setter([&] { flag.store(true, std::memory_order_release); });
  wait_until([&] { return flag.load(std::memory_order_acquire); });
  setter.join();
  set_num_threads(cpus);
  CHECK(spinning_allowed());
  if (cpus >= 2) {  // this thread alone on one CPU: the count follows, and spinning stops
    cpu_set_t all, first;
    REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
    CPU_ZERO(&first);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &all)) {
        CPU_SET(c, &first);
        break;
      }
    REQUIRE(sched_setaffinity(0, sizeof(first), &first) == 0);
    const int pinned = usable_cpus();
    set_num_threads(cpus);  // same count: no new workers (they would inherit the one-CPU mask)
    const bool spinning = spinning_allowed();
    REQUIRE(sched_setaffinity(0, sizeof(all), &all) == 0);
    CHECK(pinned == 1);
    CHECK_FALSE(spinning);
    set_num_threads(cpus);
    CHECK(spinning_allowed());
  }
}
