#include <atomic>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/thread_pool.hpp"

using namespace pf;

namespace {
struct ThreadsFor {
  int before = num_threads();
  explicit ThreadsFor(int n) { set_num_threads(n); }
  ~ThreadsFor() { set_num_threads(before); }
};
}  // namespace

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

TEST_CASE("parallel_for uses several threads and runs nested loops serially", "[engine][threads]") {
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
