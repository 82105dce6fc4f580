#include "engine/core/profiler.hpp"

#include <chrono>
#include <thread>

#include "engine/ops/elementwise.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/reduce.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

const OpProfileRow* find_row(const std::vector<OpProfileRow>& rows, const std::string& op) {
  for (const auto& r : rows)
    if (r.op == op) return &r;
  return nullptr;
}

// Turns profiling on for one test and restores the previous setting.
struct ProfilingOn {
  bool before = profiling();
  ProfilingOn() {
    set_profiling(true);
    reset_op_profile();
  }
  ~ProfilingOn() {
    set_profiling(before);
    reset_op_profile();
  }
};

}  // namespace

TEST_CASE("profiler: counts each op's forward and backward calls under its tape name", "[profiler]") {
  ProfilingOn on;
  auto a = random_tensor({16, 16}, 1), b = random_tensor({16, 16}, 2);
  a.set_requires_grad(true);
  for (int i = 0; i < 3; ++i) {
    Tensor<double> loss = sum(pf::tanh(matmul(a, b)));
    loss.backward();
  }
  const auto rows = op_profile();
  const OpProfileRow* mm = find_row(rows, "matmul");
  const OpProfileRow* th = find_row(rows, "tanh");
  REQUIRE(mm);
  REQUIRE(th);
  CHECK(mm->forward_calls == 3);
  CHECK(mm->backward_calls == 3);
  CHECK(th->forward_calls == 3);
  CHECK(mm->forward_seconds > 0);
  CHECK(mm->backward_seconds > 0);
  const std::string table = op_profile_table();
  CHECK_THAT(table, Catch::Contains("matmul"));
  CHECK_THAT(table, Catch::Contains("share"));
}

TEST_CASE("profiler: nested timers are exclusive, so shares add up", "[profiler]") {
  ProfilingOn on;
  {
    const OpTimer outer("outer");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    {
      const OpTimer inner("inner");
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  }
  const auto rows = op_profile();
  const OpProfileRow* outer = find_row(rows, "outer");
  const OpProfileRow* inner = find_row(rows, "inner");
  REQUIRE(outer);
  REQUIRE(inner);
  CHECK(inner->forward_seconds >= 0.039);
  CHECK(outer->forward_seconds >= 0.019);
  CHECK(outer->forward_seconds < 0.039);  // the inner 40 ms are not charged to the outer timer
  CHECK(rows.front().op == "inner");      // largest first
}

TEST_CASE("profiler: off, nothing is recorded", "[profiler]") {
  const bool before = profiling();
  set_profiling(false);
  reset_op_profile();
  auto a = random_tensor({4, 4}, 3);
  Tensor<double> y = matmul(a, a);
  CHECK(op_profile().empty());
  set_profiling(before);
}
