#include "engine/core/profiler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

namespace pf {
namespace {

struct Totals {
  long calls[2] = {0, 0};
  double seconds[2] = {0, 0};
};

// Ops may run on several caller threads: one lock guards the table (taken only when profiling).
std::mutex g_mutex;
// Never destroyed: the table is printed by an atexit handler, which may run after the static
// destructors of objects made later than its registration.
std::map<std::string, Totals>& table() {
  static auto* t = new std::map<std::string, Totals>();
  return *t;
}

thread_local OpTimer* t_innermost = nullptr;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void print_at_exit() {
  std::fflush(stdout);  // the program's own output first
  const std::string text = op_profile_table();
  std::fprintf(stderr, "\n%s", text.c_str());
}

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("PERFORMER_PROFILE");
    const bool on = env && *env && std::strcmp(env, "0") != 0;
    if (on) std::atexit(print_at_exit);
    return on;
  }();
  return flag;
}

}  // namespace

bool profiling() { return enabled_flag().load(std::memory_order_relaxed); }

void set_profiling(bool on) { enabled_flag().store(on); }

std::vector<OpProfileRow> op_profile() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<OpProfileRow> rows;
  for (const auto& [op, t] : table())
    rows.push_back({op, t.calls[0], t.calls[1], t.seconds[0], t.seconds[1]});
  std::sort(rows.begin(), rows.end(), [](const OpProfileRow& a, const OpProfileRow& b) {
    return a.forward_seconds + a.backward_seconds > b.forward_seconds + b.backward_seconds;
  });
  return rows;
}

void reset_op_profile() {
  std::lock_guard<std::mutex> lock(g_mutex);
  table().clear();
}

std::string op_profile_table() {
  const std::vector<OpProfileRow> rows = op_profile();
  double total = 0;
  for (const auto& r : rows) total += r.forward_seconds + r.backward_seconds;
  std::string out = fmt::format("{:<24} {:>10} {:>10} {:>10} {:>10} {:>7}\n", "op (PERFORMER_PROFILE)", "fwd calls",
                                "fwd ms", "bwd calls", "bwd ms", "share");
  for (const auto& r : rows)
    out += fmt::format("{:<24} {:>10} {:>10.1f} {:>10} {:>10.1f} {:>6.1f}%\n", r.op, r.forward_calls,
                       1e3 * r.forward_seconds, r.backward_calls, 1e3 * r.backward_seconds,
                       total > 0 ? 100 * (r.forward_seconds + r.backward_seconds) / total : 0.0);
  out += fmt::format("{:<24} {:>21.1f} ms in ops\n", "total", 1e3 * total);
  return out;
}

OpTimer::OpTimer(const char* op, bool backward) {
  if (!profiling()) return;
  op_ = op;
  backward_ = backward;
  parent_ = t_innermost;
  t_innermost = this;
  start_ = now_seconds();
}

OpTimer::~OpTimer() {
  if (!op_) return;
  const double elapsed = now_seconds() - start_;
  t_innermost = parent_;
  if (parent_) parent_->children_ += elapsed;
  std::lock_guard<std::mutex> lock(g_mutex);
  Totals& t = table()[op_];
  t.calls[backward_] += 1;
  t.seconds[backward_] += elapsed - children_;
}

}  // namespace pf
