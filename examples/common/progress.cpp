#include "progress.hpp"

#include <unistd.h>

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace pf::examples {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

ProgressReporter::ProgressReporter(std::size_t total_steps, double budget_seconds, std::size_t log_every, std::string unit)
    : total_steps_(total_steps), log_every_(log_every == 0 ? 1 : log_every), budget_seconds_(budget_seconds),
      unit_(std::move(unit)), terminal_(isatty(fileno(stdout)) != 0) {}

void ProgressReporter::update(std::size_t step, double loss, double units_per_second, double elapsed) {
  if (quiet_) return;
  // Fraction done is by steps or by time, whichever bounds the run.
  double fraction = 0;
  if (total_steps_ > 0) fraction = double(step) / double(total_steps_);
  if (budget_seconds_ > 0) fraction = std::max(fraction, elapsed / budget_seconds_);
  fraction = std::min(fraction, 1.0);
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : NAN;
  const std::string steps = total_steps_ > 0 ? fmt::format("{}/{}", step, total_steps_) : fmt::format("{}", step);
  if (terminal_) {
    constexpr int width = 24;
    const int filled = static_cast<int>(fraction * width);
    fmt::print("\r[{}{}] step {} loss {:.4f} {:.0f} {}/s ETA {}   ", std::string(filled, '#'),
               std::string(width - filled, '.'), steps, loss, units_per_second, unit_, format_duration(eta));
    std::fflush(stdout);
    bar_shown_ = true;
  } else if (step % log_every_ == 0) {
    fmt::print("step {} loss {:.4f} {:.0f} {}/s elapsed {} ETA {}\n", steps, loss, units_per_second, unit_,
               format_duration(elapsed), format_duration(eta));
    std::fflush(stdout);
  }
}

void ProgressReporter::message(const std::string& line) {
  if (quiet_) return;
  if (bar_shown_) fmt::print("\r\033[K");
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

void ProgressReporter::finish() {
  if (quiet_) return;
  if (bar_shown_) fmt::print("\n");
  bar_shown_ = false;
  std::fflush(stdout);
}

void JsonlLog::open(const std::string& path, bool append) {
  if (file_ != nullptr) std::fclose(file_);
  path_ = path;
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (file_ == nullptr) throw std::runtime_error(fmt::format("cannot open log file '{}' for writing", path));
}

JsonlLog::~JsonlLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void JsonlLog::write(const std::string& kind, std::initializer_list<std::pair<const char*, double>> fields) {
  write(kind, std::vector<std::pair<std::string, double>>(fields.begin(), fields.end()));
}

void JsonlLog::write(const std::string& kind, const std::vector<std::pair<std::string, double>>& fields) {
  if (file_ == nullptr) return;
  std::string line = fmt::format("{{\"kind\":\"{}\"", kind);
  for (const auto& [key, value] : fields)
    line += std::isfinite(value) ? fmt::format(",\"{}\":{:.8g}", key, value) : fmt::format(",\"{}\":null", key);
  line += "}\n";
  std::fputs(line.c_str(), file_);
  std::fflush(file_);
}

}  // namespace pf::examples
