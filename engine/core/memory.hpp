// Tensor memory: a caching pool behind every tensor buffer.
//
// Why: on this class of VM the first touch of a fresh 4 KiB page costs ~10 us, so a training
// step that mallocs fresh activations each time spends more time faulting pages than computing.
// Training repeats the same shapes every step, so an exact-size free list turns every
// allocation after warm-up into a reuse. The pool also measures what tensors hold (live and
// peak bytes), which is what benchmarks report as peak memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>

namespace pf {

struct MemoryStats {
  std::size_t live_bytes = 0;       // bytes held by tensors right now
  std::size_t peak_live_bytes = 0;  // max of live_bytes since the last reset_peak()
  std::size_t cached_bytes = 0;     // freed buffers kept for reuse
  std::size_t fresh_bytes = 0;      // bytes ever obtained from the system allocator
  std::uint64_t fresh_allocations = 0;
  std::uint64_t reused_allocations = 0;
};

// Snapshot of the pool's counters.
MemoryStats memory_stats();
// Start a new peak measurement: peak := live.
void reset_peak_memory();
// Give every cached (unused) buffer back to the system.
void release_cached_memory();
// Cached bytes above this limit are returned to the system instead of kept (default 4 GiB).
void set_memory_cache_limit(std::size_t bytes);

// A tensor buffer the system would not give: a std::bad_alloc whose what() says how many bytes
// were asked for and how many live tensors already hold (a plain bad_alloc says neither).
class TensorAllocationError : public std::bad_alloc {
 public:
  TensorAllocationError(long double bytes, std::size_t live_bytes);
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// Raw pool entry points (64-byte aligned). pool_allocate throws TensorAllocationError when the
// system refuses (after giving back the cached buffers) or the size is beyond any address space.
void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes) noexcept;

// Make glibc keep freed memory instead of unmapping it (M_MMAP_MAX=0, large M_TRIM_THRESHOLD),
// for the non-tensor allocations of a long-running program. Called by the example programs.
void tune_malloc_for_reuse();

// std-compatible stateless allocator over the pool; all instances are interchangeable.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))  // n * sizeof(T) would wrap
      throw TensorAllocationError((long double)n * sizeof(T), memory_stats().live_bytes);
    return static_cast<T*>(pool_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  struct rebind {
    using other = PoolAllocator<U>;
  };
};
template <class T, class U>
bool operator==(const PoolAllocator<T>&, const PoolAllocator<U>&) noexcept {
  return true;
}
template <class T, class U>
bool operator!=(const PoolAllocator<T>&, const PoolAllocator<U>&) noexcept {
  return false;
}

}  // namespace pf
