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
