// README: "results do not depend on the thread count". Checked here for every attention kernel,
// forward and backward, float32, at 1, 2 and 3 threads: bit-identical (each output element and
// each gradient element is summed by one thread in a fixed order, whatever the thread count).
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/core/random.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/reduce.hpp"
#include "layers/attention/exact_attention.hpp"
#include "layers/attention/favor_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using pf::test::ThreadsFor;

namespace {

using Kernel = std::function<Tensor<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&)>;

// out and the gradients of sum(out * w) for q, k, v, flattened one after another.
std::vector<float> forward_and_backward(const Kernel& kernel, bool positive, const Shape& qk = {2, 3, 70, 16},
                                        const Shape& vs = {2, 3, 70, 8}) {
  Rng rng(17);
  Tensor<float> q = randn<float>(qk, rng), k = randn<float>(qk, rng), v = randn<float>(vs, rng);
  if (positive) {  // feature-mapped queries and keys are positive
    q = pf::exp(q * 0.3f).detach();
    k = pf::exp(k * 0.3f).detach();
  }
  const Tensor<float> w = randn<float>(vs, rng);
  q.set_requires_grad(true);
  k.set_requires_grad(true);
  v.set_requires_grad(true);
  const Tensor<float> out = kernel(q, k, v);
  sum(out * w).backward();
  std::vector<float> all(out.data(), out.data() + out.numel());
  for (const Tensor<float>* t : {&q, &k, &v}) all.insert(all.end(), t->grad().data(), t->grad().data() + t->numel());
  return all;
}

}  // namespace

TEST_CASE("attention kernels give bit-identical results at 1, 2 and 3 threads", "[layers][attention][threads]") {
  const Mask padding = [] {
    Mask m = filled_array<std::uint8_t>({2, 70}, 0);
    for (std::size_t l = 20; l < 27; ++l) m(1, l) = 1;  // a padded stretch in the middle
    return m;
  }();
  const std::vector<std::pair<std::string, std::pair<Kernel, bool>>> kernels = {
      {"favor bidirectional", {[](auto& q, auto& k, auto& v) { return favor_bidirectional(q, k, v); }, true}},
      {"favor bidirectional, padded", {[&](auto& q, auto& k, auto& v) { return favor_bidirectional(q, k, v, &padding); }, true}},
      {"favor causal", {[](auto& q, auto& k, auto& v) { return favor_causal(q, k, v); }, true}},
      {"favor causal chunked (16)", {[](auto& q, auto& k, auto& v) { return favor_causal_chunked(q, k, v, nullptr, 16); }, true}},
      {"exact bidirectional", {[](auto& q, auto& k, auto& v) { return exact_attention(q, k, v, false); }, false}},
      {"exact causal", {[](auto& q, auto& k, auto& v) { return exact_attention(q, k, v, true); }, false}},
  };
  for (const auto& [name, kernel] : kernels) {
    INFO(name);
    std::vector<float> one;
    {
      ThreadsFor scope(1);
      one = forward_and_backward(kernel.first, kernel.second);
    }
    for (int threads : {2, 3}) {
      INFO(threads << " threads");
      ThreadsFor scope(threads);
      CHECK(forward_and_backward(kernel.first, kernel.second) == one);
    }
  }
}

TEST_CASE("FAVOR kernels with fewer slices than threads split their GEMMs instead, bit-identically",
          "[layers][attention][threads]") {
  // 2 slices on 3 threads: the slices run in turn and each slice's GEMMs (large enough here to be
  // split) run on all threads.
  const Shape qk = {1, 2, 2048, 64}, vs = {1, 2, 2048, 32};
  const std::vector<std::pair<std::string, Kernel>> kernels = {
      {"favor bidirectional", [](auto& q, auto& k, auto& v) { return favor_bidirectional(q, k, v); }},
      {"favor causal chunked", [](auto& q, auto& k, auto& v) { return favor_causal_chunked(q, k, v); }},
  };
  for (const auto& [name, kernel] : kernels) {
    INFO(name);
    std::vector<float> one;
    {
      ThreadsFor scope(1);
      one = forward_and_backward(kernel, true, qk, vs);
    }
    for (int threads : {2, 3}) {
      INFO(threads << " threads");
      ThreadsFor scope(threads);
      CHECK(forward_and_backward(kernel, true, qk, vs) == one);
    }
  }
}
