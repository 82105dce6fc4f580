// Opt-in per-op profiler: where a step's time goes, op by op, forward and backward.
//
// Switched on by PERFORMER_PROFILE=1 in the environment (read once, at the first op) or by
// set_profiling(true). Each op's forward runs inside an OpTimer; backward() times each node's
// closure under the node's op name. Times are exclusive: an op that calls other ops (a
// composite, or a backward that permutes with a forward op) is charged only for its own work,
// so the shares add up to the profiled time. With profiling on, the table is printed to stderr
// when the process exits. Off, an OpTimer costs one predictable branch.
#pragma once

#include <string>
#include <vector>

namespace pf {

bool profiling();
void set_profiling(bool on);

struct OpProfileRow {
  std::string op;
  long forward_calls = 0, backward_calls = 0;
  double forward_seconds = 0, backward_seconds = 0;
};
// Rows by total time, largest first.
std::vector<OpProfileRow> op_profile();
void reset_op_profile();
// "op  fwd calls  fwd ms  bwd calls  bwd ms  share" per row, with a total line.
std::string op_profile_table();

// Times the enclosing scope as `op`'s forward (or backward) when profiling is on.
class OpTimer {
 public:
  explicit OpTimer(const char* op, bool backward = false);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_ = nullptr;  // null when profiling was off at construction
  bool backward_ = false;
  double start_ = 0;
  double children_ = 0;  // seconds spent in nested timers, not charged to this one
  OpTimer* parent_ = nullptr;
};

}  // namespace pf
