#include "engine/io/finite.hpp"

#include <atomic>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace pf {
namespace {
std::atomic<bool> g_allow{false};
}

void allow_non_finite(bool allow) { g_allow.store(allow); }
bool non_finite_allowed() { return g_allow.load(); }

template <class T>
void require_finite(const T* data, std::size_t n, const std::string& what, const std::string& name) {
  if (g_allow.load()) return;
  std::size_t first = n, count = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i])) {
      if (first == n) first = i;
      ++count;
    }
  if (count == 0) return;
  throw std::runtime_error(fmt::format(
      "{}: tensor '{}' holds {} at flat index {} ({} non-finite values of {}); refusing it (allow_non_finite(true), "
      "or --allow-non-finite in the programs, lets it through)",
      what, name, data[first], first, count, n));
}

template void require_finite<float>(const float*, std::size_t, const std::string&, const std::string&);
template void require_finite<double>(const double*, std::size_t, const std::string&, const std::string&);

}  // namespace pf
