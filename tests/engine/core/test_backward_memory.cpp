// backward() lets go of each op's inputs once the op's backward has run, so activations no
// handle holds are freed during the sweep (lowering a training step's peak), while the values
// a caller still holds stay readable and a second backward() still reports the freed graph.
#include "engine/ops/elementwise.hpp"
#include "engine/core/memory.hpp"
#include "engine/ops/reduce.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("backward frees intermediate values no handle holds", "[engine][tensor][memory]") {
  const std::size_t n = 1 << 16, bytes = n * sizeof(float);
  Tensor<float> x = Tensor<float>::full({n}, 0.5f, true);
  const std::size_t before = memory_stats().live_bytes;
  Tensor<float> y = sum(exp(exp(exp(x))));
  CHECK(memory_stats().live_bytes - before >= 3 * bytes);  // the three exp values are on the tape
  y.backward();
  // Left: x's gradient, y and its direct input (the root keeps its parents), no other exp value.
  const std::size_t after = memory_stats().live_bytes - before;
  INFO("live after backward: " << after << " bytes");
  CHECK(after < 2 * bytes + 4096);
  CHECK(x.grad()(0) == Approx(std::exp(std::exp(std::exp(0.5))) * std::exp(std::exp(0.5)) * std::exp(0.5)));
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("already freed"));
}

TEST_CASE("backward keeps the values the caller holds; their graph reports it was freed", "[engine][tensor]") {
  Tensor<double> x = Tensor<double>::full({4}, 0.25, true);
  Tensor<double> h = exp(x);
  Tensor<double> y = sum(mul(h, h));
  y.backward();
  for (std::size_t i = 0; i < 4; ++i) CHECK(h.value()(i) == Approx(std::exp(0.25)));
  CHECK(x.grad()(0) == Approx(2 * std::exp(0.5)));
  CHECK_FALSE(h.node()->is_leaf());  // still an op's output (not a parameter)
  CHECK_THROWS_WITH(h.backward(), Catch::Contains("already freed"));
  CHECK_THROWS_WITH(h.set_requires_grad(false), Catch::Contains("output of exp"));
}

TEST_CASE("grad_target: beta 0 and an unfilled buffer on first use, then the same buffer with beta 1",
          "[engine][tensor]") {
  Tensor<float> x(filled_array<float>({3, 5}, 1.0f), true);
  auto node = x.node();
  REQUIRE_FALSE(node->has_grad);
  const auto first = node->grad_target();
  CHECK(first.beta == 0.0f);
  CHECK(node->has_grad);
  REQUIRE(node->grad.size() == 15);
  CHECK(first.data == node->grad.data());
  std::fill(first.data, first.data + 15, 2.0f);  // what a kernel with beta 0 writes
  const auto second = node->grad_target();
  CHECK(second.beta == 1.0f);
  CHECK(second.data == first.data);
  CHECK(x.grad().data()[14] == 2.0f);
}
