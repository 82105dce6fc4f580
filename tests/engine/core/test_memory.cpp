#include <functional>
#include <limits>
#include <string>

#include "engine/core/memory.hpp"
#include "engine/core/tensor.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("memory pool: freed buffers are reused at the same size and released on request", "[engine][memory]") {
  release_cached_memory();
  const std::size_t bytes = 3 << 20;
  const MemoryStats start = memory_stats();
  CHECK(start.cached_bytes == 0);
  void* a = pool_allocate(bytes);
  CHECK(memory_stats().fresh_bytes - start.fresh_bytes == bytes);
  pool_deallocate(a, bytes);
  CHECK(memory_stats().cached_bytes == bytes);
  void* b = pool_allocate(bytes);  // the same size again: a reuse, no fresh memory
  CHECK(memory_stats().fresh_bytes - start.fresh_bytes == bytes);
  CHECK(memory_stats().reused_allocations == start.reused_allocations + 1);
  pool_deallocate(b, bytes);
  release_cached_memory();
  CHECK(memory_stats().cached_bytes == 0);
  CHECK(memory_stats().live_bytes == start.live_bytes);
  void* c = pool_allocate(bytes);  // after the release it must come fresh
  CHECK(memory_stats().fresh_bytes - start.fresh_bytes == 2 * bytes);
  pool_deallocate(c, bytes);
}

TEST_CASE("memory pool: an allocation the system refuses says how many bytes, never wraps", "[engine][memory][errors]") {
  const auto says_bytes = [](const std::function<void()>& allocate, const std::string& bytes) {
    try {
      allocate();
      FAIL("no error");
    } catch (const std::bad_alloc& e) {  // TensorAllocationError is one
      INFO(e.what());
      CHECK(std::string(e.what()).find("out of memory") != std::string::npos);
      CHECK(std::string(e.what()).find(bytes) != std::string::npos);
    }
  };
#ifndef __SANITIZE_ADDRESS__  // AddressSanitizer's allocator aborts on a request past its 1 TiB cap
  // 1 PiB: a size the system refuses.
  says_bytes([] { pool_allocate(std::size_t(1) << 50); }, "1125899906842624 bytes");
  says_bytes([] { empty_array<float>({std::size_t(1) << 25, std::size_t(1) << 25}); }, "4503599627370496 bytes");
#endif
  // Sizes whose rounding up to 64 bytes, or whose count times the element size, would wrap.
  says_bytes([] { pool_allocate(std::numeric_limits<std::size_t>::max() - 10); }, "GiB");
  says_bytes([] { PoolAllocator<double>().allocate(std::numeric_limits<std::size_t>::max() / 4); }, "GiB");
  // A shape whose element count wraps 2^64 (xtensor alone would allocate a small buffer for it).
  says_bytes([] { empty_array<float>({std::size_t(1) << 33, std::size_t(1) << 33}); }, "GiB");
  CHECK(memory_stats().live_bytes < (std::size_t(1) << 40));  // nothing was counted as live
}
