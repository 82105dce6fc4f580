#include "engine/kernels/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <sched.h>

#include <cblas.h>

namespace pf {
namespace {

thread_local bool t_inside_region = false;

// Idle workers spin this long before sleeping: a training step issues parallel loops every
// few tens of microseconds, and waking a sleeping thread costs about as much.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(1000);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

template <class Ready>
void spin_then(Ready ready) {
  if (!spinning_allowed()) return;
  const auto until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  while (!ready()) {
    for (int i = 0; i < 64 && !ready(); ++i) cpu_relax();
    if (std::chrono::steady_clock::now() > until) return;
  }
}

// Moves the calling thread off `cpu` when another CPU is allowed. Two threads that take turns
// (one sleeps while the other runs) can stay on one CPU for good: the scheduler never sees both
// runnable, so it never spreads them (seen at start-up, when OpenBLAS's idle thread spins on the
// other CPU for ~0.1 s and a woken worker lands beside the caller: every parallel loop then cost
// a millisecond). A mask without `cpu` migrates the thread at once; the old mask is restored
// right after, which does not move it back.
void move_off_cpu(int cpu) {
  cpu_set_t allowed;
  if (cpu < 0 || sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || !CPU_ISSET(cpu, &allowed) ||
      CPU_COUNT(&allowed) < 2)
    return;
  cpu_set_t others = allowed;
  CPU_CLR(cpu, &others);
  if (sched_setaffinity(0, sizeof(others), &others) == 0) sched_setaffinity(0, sizeof(allowed), &allowed);
}

class ThreadPool {
 public:
  ~ThreadPool() { resize(1); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int threads) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    stopping_ = false;
    // Workers start from the current generation: one read later could miss the first run().
    const std::uint64_t start = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, start, i] { worker_loop(start, i == 1); });
  }

  void run(std::size_t n, const std::function<void(std::size_t)>& fn) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    fn_ = &fn;
    range_.store(pack(0, n), std::memory_order_relaxed);
    error_ = nullptr;
    busy_.store(int(workers_.size()), std::memory_order_relaxed);
    caller_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work(false);
    spin_then([&] { return busy_.load(std::memory_order_acquire) == 0; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return busy_.load(std::memory_order_acquire) == 0; });
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // The indices not yet taken, [lo, hi), in one word: the calling thread takes them from the
  // front and the first worker from the back (the others from the front). So on 2 threads
  // every parallel loop over rows gives the first rows to the same core and the last rows to
  // the other, and the rows a loop writes are in that core's L2 when the next loop reads them;
  // a thread that falls behind still takes fewer.
  static std::uint64_t pack(std::uint64_t lo, std::uint64_t hi) { return lo | (hi << 32); }

  bool take(bool from_back, std::size_t& index) {
    std::uint64_t cur = range_.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t lo = cur & 0xffffffffu, hi = cur >> 32;
      if (lo >= hi) return false;
      const std::uint64_t next = from_back ? pack(lo, hi - 1) : pack(lo + 1, hi);
      if (range_.compare_exchange_weak(cur, next, std::memory_order_relaxed)) {
        index = std::size_t(from_back ? hi - 1 : lo);
        return true;
      }
    }
  }

  void work(bool from_back) {
    t_inside_region = true;
    for (std::size_t i; take(from_back, i);) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        range_.store(0, std::memory_order_relaxed);  // stop handing out work
      }
    }
    t_inside_region = false;
  }

  void worker_loop(std::uint64_t seen, bool from_back) {
    for (;;) {
      spin_then([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (stopping_) return;
      }
      const int caller_cpu = caller_cpu_.load(std::memory_order_relaxed);
      if (sched_getcpu() == caller_cpu) move_off_cpu(caller_cpu);
      work(from_back);
      if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one parallel_for at a time (calls from several user threads queue)
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<std::uint64_t> generation_{0};
  bool stopping_ = false;

  const std::function<void(std::size_t)>* fn_ = nullptr;
  std::atomic<std::uint64_t> range_{0};
  std::atomic<int> busy_{0};
  std::atomic<int> caller_cpu_{-1};  // where the caller of the current run() started it
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

ThreadPool& pool() {
  static ThreadPool instance;
  return instance;
}

std::atomic<int> g_threads{1};
std::atomic<bool> g_spinning_allowed{true};

// OpenBLAS's pthread build starts a worker per further core when it loads, and a worker spins
// (yielding) for 2^28 cycles, ~0.1 s, after start-up and after each threaded call before it
// sleeps. On 2 vCPUs that spin beside a single-threaded decoder slowed it by 15-25 % for its
// first ~2000 tokens (sample_text --threads 1: 53-65 us per token with the worker, 46-52 without).
// So while the engine runs on one thread OpenBLAS keeps no threads at all; OpenBLAS restarts its
// server by itself at the first call that may use more threads again.
// Weak: a BLAS without this entry point keeps its threads, which costs time but nothing else.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));

void use_blas_single_threaded() {
  openblas_set_num_threads(1);
  if (blas_thread_shutdown_ != nullptr) blas_thread_shutdown_();
}

// The engine's default of 1 thread holds for OpenBLAS too, from before main.
const bool g_blas_starts_single = [] {
  use_blas_single_threaded();
  return true;
}();

}  // namespace

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

bool spinning_allowed() { return g_spinning_allowed.load(std::memory_order_relaxed); }

void set_num_threads(int threads) {
  if (threads <= 0) return;
  (void)g_blas_starts_single;  // a use, so its initialisation cannot be deferred past this call
  g_spinning_allowed.store(threads <= usable_cpus(), std::memory_order_relaxed);
  if (threads == 1) use_blas_single_threaded();
  else openblas_set_num_threads(threads);
  if (threads == g_threads.load()) return;
  pool().resize(threads);
  g_threads.store(threads);
}

int num_threads() { return g_threads.load(); }

bool inside_parallel_region() { return t_inside_region; }

void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || t_inside_region || g_threads.load() <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  // The pool hands out indices below 2^32 (see ThreadPool::take); more run as several loops.
  constexpr std::size_t kMaxIndices = (std::size_t(1) << 32) - 1;
  if (n > kMaxIndices) {
    for (std::size_t start = 0; start < n; start += kMaxIndices)
      parallel_for(std::min(kMaxIndices, n - start), [&](std::size_t i) { fn(start + i); });
    return;
  }
  // A BLAS call made by fn must not start threads of its own on the busy cores.
  openblas_set_num_threads(1);
  try {
    pool().run(n, fn);
  } catch (...) {
    openblas_set_num_threads(g_threads.load());
    throw;
  }
  openblas_set_num_threads(g_threads.load());
}

}  // namespace pf
