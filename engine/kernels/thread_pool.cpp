#include "engine/kernels/thread_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

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
  const auto until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  while (!ready()) {
    for (int i = 0; i < 64 && !ready(); ++i) cpu_relax();
    if (std::chrono::steady_clock::now() > until) return;
  }
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
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, start] { worker_loop(start); });
  }

  void run(std::size_t n, const std::function<void(std::size_t)>& fn) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    busy_.store(int(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    spin_then([&] { return busy_.load(std::memory_order_acquire) == 0; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return busy_.load(std::memory_order_acquire) == 0; });
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    t_inside_region = true;
    for (std::size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n_;) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_, std::memory_order_relaxed);  // stop handing out work
      }
    }
    t_inside_region = false;
  }

  void worker_loop(std::uint64_t seen) {
    for (;;) {
      spin_then([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (stopping_) return;
      }
      work();
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
  std::size_t n_ = 0;
  std::atomic<std::size_t> next_{0};
  std::atomic<int> busy_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

ThreadPool& pool() {
  static ThreadPool instance;
  return instance;
}

std::atomic<int> g_threads{1};

}  // namespace

void set_num_threads(int threads) {
  if (threads <= 0 || threads == g_threads.load()) return;
  pool().resize(threads);
  g_threads.store(threads);
  openblas_set_num_threads(threads);
}

int num_threads() { return g_threads.load(); }

bool inside_parallel_region() { return t_inside_region; }

void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || t_inside_region || g_threads.load() <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
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
