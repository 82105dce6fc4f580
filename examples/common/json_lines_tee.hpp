// JSON lines printed to stdout (flushed at once, so a long study shows its progress) and, when a
// path is given, copied to that file.
#pragma once

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace pf::examples {

class JsonLinesTee {
 public:
  explicit JsonLinesTee(const std::string& path) {
    if (path.empty()) return;
    file_.open(path);
    if (!file_) throw std::runtime_error(fmt::format("cannot write '{}'", path));
  }
  void emit(const std::string& line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
    if (file_.is_open()) file_ << line << '\n';
  }

 private:
  std::ofstream file_;
};

}  // namespace pf::examples
