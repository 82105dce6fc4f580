#include "engine/core/memory.hpp"

#include <malloc.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace pf {
namespace {

constexpr std::size_t kAlignment = 64;

struct Pool {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;  // rounded size -> buffers
  MemoryStats stats;
  std::size_t cache_limit = std::size_t(4) << 30;
};

// Never destroyed: tensors in static storage may outlive any destructor order we could pick.
Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

std::size_t rounded(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

constexpr double kGiB = double(std::size_t(1) << 30);

}  // namespace

TensorAllocationError::TensorAllocationError(long double bytes, std::size_t live_bytes)
    : message_(fmt::format("out of memory: a tensor buffer of {:.0f} bytes ({:.3g} GiB) could not be allocated; "
                           "live tensors hold {} bytes ({:.3g} GiB)",
                           double(bytes), double(bytes) / kGiB, live_bytes, double(live_bytes) / kGiB)) {}

void* pool_allocate(std::size_t bytes) {
  // Beyond half the address space no allocation can succeed, and rounding up could wrap.
  if (bytes > std::numeric_limits<std::size_t>::max() / 2) throw TensorAllocationError(bytes, memory_stats().live_bytes);
  const std::size_t size = rounded(bytes);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.free_lists.find(size);
    if (it != p.free_lists.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      p.stats.cached_bytes -= size;
      p.stats.live_bytes += size;
      if (p.stats.live_bytes > p.stats.peak_live_bytes) p.stats.peak_live_bytes = p.stats.live_bytes;
      ++p.stats.reused_allocations;
      return ptr;
    }
  }
  void* ptr = std::aligned_alloc(kAlignment, size);
  if (ptr == nullptr) {
    release_cached_memory();
    ptr = std::aligned_alloc(kAlignment, size);
    if (ptr == nullptr) throw TensorAllocationError(size, memory_stats().live_bytes);
  }
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.live_bytes += size;
  if (p.stats.live_bytes > p.stats.peak_live_bytes) p.stats.peak_live_bytes = p.stats.live_bytes;
  p.stats.fresh_bytes += size;
  ++p.stats.fresh_allocations;
  return ptr;
}

void pool_deallocate(void* ptr, std::size_t bytes) noexcept {
  if (ptr == nullptr) return;
  const std::size_t size = rounded(bytes);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.live_bytes -= size;
  if (p.stats.cached_bytes + size > p.cache_limit) {
    std::free(ptr);
    return;
  }
  try {
    p.free_lists[size].push_back(ptr);
    p.stats.cached_bytes += size;
  } catch (...) {
    std::free(ptr);
  }
}

MemoryStats memory_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.stats;
}

void reset_peak_memory() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.stats.peak_live_bytes = p.stats.live_bytes;
}

void release_cached_memory() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  for (auto& [size, list] : p.free_lists) {
    for (void* ptr : list) std::free(ptr);
    list.clear();
  }
  p.free_lists.clear();
  p.stats.cached_bytes = 0;
}

void set_memory_cache_limit(std::size_t bytes) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.cache_limit = bytes;
}

void tune_malloc_for_reuse() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace pf
