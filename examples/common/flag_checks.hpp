// Checks on numeric flags, worded for a user. A size flag is unsigned, and an unsigned parse
// would take "-4" as 2^64 - 4 (then fail far from the cause, e.g. as bad_alloc): refused here.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/kernels/thread_pool.hpp"

namespace pf::examples {

inline CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        double number = 0;
        if (!CLI::detail::lexical_cast(value, number)) return "must be a number, got '" + value + "'";
        return number < 0 ? "must be >= 0, got " + value : std::string();
      },
      "NONNEGATIVE");
}

// More threads than CPUs run, but slower than fewer threads would: the user should hear of it.
inline void warn_if_threads_exceed_cpus(int threads) {
  const int cpus = usable_cpus();
  if (threads > cpus)
    fmt::print(stderr,
               "warning: --threads {} is more than the {} CPU(s) this process may use (its affinity mask); the "
               "threads will take turns on them, which is slower than --threads {}\n",
               threads, cpus, cpus);
}

}  // namespace pf::examples
