// Peak resident memory of one call, measured from outside the allocator, so that it applies to
// LibTorch (whose CPU tensors come from malloc) and to our engine alike.
//
// Method: give freed memory back first (our pool's cache, then glibc's free lists via
// malloc_trim(0), which also releases free pages inside the heap), read VmRSS, reset the
// process's high-water mark by writing "5" to /proc/self/clear_refs (Linux >= 4.0), run the
// call, read VmHWM. Peak growth = VmHWM - VmRSS before. Without the trim, a call could reuse
// pages an earlier call left resident and its growth would read too low.
#pragma once

#include <malloc.h>

#include <cstddef>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "engine/core/memory.hpp"

namespace pf::bench {

// A "Vm...:  N kB" field of /proc/self/status, in bytes.
inline std::size_t proc_status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(field.size() + 1));
    std::size_t kb = 0;
    fields >> kb;
    return kb * 1024;
  }
  throw std::runtime_error("/proc/self/status has no field " + field);
}

// Whether the high-water mark can be reset here (needs a writable /proc/self/clear_refs).
inline bool reset_rss_high_water_mark() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return bool(out);
}

inline void return_free_memory_to_system() {
  release_cached_memory();
  malloc_trim(0);
}

// Bytes by which the resident set grew at its peak during f().
template <class F>
std::size_t peak_rss_growth(F&& f) {
  return_free_memory_to_system();
  const std::size_t before = proc_status_bytes("VmRSS");
  if (!reset_rss_high_water_mark()) throw std::runtime_error("cannot write /proc/self/clear_refs to reset VmHWM");
  f();
  const std::size_t high = proc_status_bytes("VmHWM");
  return high > before ? high - before : 0;
}

}  // namespace pf::bench
