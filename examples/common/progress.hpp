// Training progress: a one-line bar on a terminal (step, loss, rate in the unit the program
// counts, ETA), plain log lines otherwise, and a JSON-lines log of the curve for plots and
// comparisons.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace pf::examples {

class ProgressReporter {
 public:
  // total_steps = 0 when training is bounded by time instead; budget_seconds = 0 when by steps.
  // `unit` names what the rate counts: "tok" prints "tok/s", "img" prints "img/s".
  ProgressReporter(std::size_t total_steps, double budget_seconds, std::size_t log_every, std::string unit = "tok");
  // Called once per training step; units_per_second in `unit`.
  void update(std::size_t step, double loss, double units_per_second, double elapsed_seconds);
  // A line that must not be overwritten by the bar (evaluations, checkpoints, warnings).
  void message(const std::string& line);
  void finish();
  // Prints nothing at all (the ranks other than 0 of a data-parallel run).
  void set_quiet(bool quiet) { quiet_ = quiet; }

 private:
  bool quiet_ = false;
  std::size_t total_steps_, log_every_;
  double budget_seconds_;
  std::string unit_;
  bool terminal_;
  bool bar_shown_ = false;
};

// Appends one JSON object per line to a file; opened in append mode so a resumed run continues
// the same curve. Values are numbers; keys are written in the order given.
class JsonlLog {
 public:
  JsonlLog() = default;
  explicit JsonlLog(const std::string& path, bool append) { open(path, append); }
  ~JsonlLog();
  // Throws std::runtime_error naming the path when it cannot be opened for writing.
  void open(const std::string& path, bool append);
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;
  void write(const std::string& kind, std::initializer_list<std::pair<const char*, double>> fields);
  void write(const std::string& kind, const std::vector<std::pair<std::string, double>>& fields);
  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// "1h02m", "3m05s", "12s"
std::string format_duration(double seconds);

}  // namespace pf::examples
