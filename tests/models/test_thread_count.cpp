// README: "results do not depend on the thread count". A PerformerLM's forward, recurrent step
// and a short training run, at 1, 2 and 3 threads: bit-identical. (The attention kernels alone:
// tests/layers/attention/test_attention_thread_count.cpp.)
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/thread_pool.hpp"
#include "engine/optim/optimizers.hpp"
#include "models/performer_lm.hpp"
#include "test_util.hpp"
#include "tiny_config.hpp"

using namespace pf;
using namespace pf::test;

namespace {

PerformerConfig config_with(AttentionKernel attention) {
  PerformerConfig c = sized_config(29, 64, 2, 4, 96, 48, 24);
  c.attention = attention;
  c.causal = true;
  c.dropout = 0.1;
  c.redraw_interval = 2;
  c.seed = 3;
  return c;
}

void append(std::vector<float>& all, const Tensor<float>& t) { all.insert(all.end(), t.data(), t.data() + t.numel()); }

Indices random_ids(std::size_t B, std::size_t L, Rng& rng) {
  Indices ids = Indices::from_shape({B, L});
  for (auto& v : ids) v = std::int64_t(rng.below(29));
  return ids;
}

// Losses of 4 AdamW steps (dropout and feature redraws on), the weights after them, eval-mode
// logits of a batch, and (for FAVOR) 10 recurrent steps.
std::vector<float> run_everything(AttentionKernel attention) {
  PerformerLM<float> model(config_with(attention));
  AdamW<float> optimizer(model.named_parameters());
  Rng rng(8);
  std::vector<float> all;
  for (int step = 0; step < 4; ++step) {
    Tensor<float> loss = model.loss(random_ids(4, 48, rng), random_ids(4, 48, rng));
    all.push_back(loss.item());
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
  }
  for (const auto& [name, p] : model.named_parameters()) append(all, p);
  model.eval();
  append(all, model.forward(random_ids(3, 48, rng)));
  if (model.supports_recurrent_generation()) {
    auto state = model.initial_state(3);
    for (int t = 0; t < 10; ++t) {
      Indices tokens = Indices::from_shape({3});
      for (auto& v : tokens) v = std::int64_t(rng.below(29));
      append(all, model.step(tokens, state));
    }
  }
  return all;
}

}  // namespace

TEST_CASE("PerformerLM: training, forward and recurrent steps are bit-identical at 1, 2 and 3 threads",
          "[models][threads]") {
  for (const AttentionKernel attention : {AttentionKernel::favor_positive, AttentionKernel::exact}) {
    INFO((attention == AttentionKernel::exact ? "exact" : "favor-positive"));
    std::vector<float> one;
    {
      ThreadsFor scope(1);
      one = run_everything(attention);
    }
    REQUIRE(one.size() > 1000);
    for (int threads : {2, 3}) {
      INFO(threads << " threads");
      ThreadsFor scope(threads);
      const std::vector<float> many = run_everything(attention);
      REQUIRE(many.size() == one.size());
      std::size_t differ = 0, first = many.size();
      for (std::size_t i = 0; i < many.size(); ++i)
        if (many[i] != one[i]) {
          if (differ++ == 0) first = i;
        }
      INFO(differ << " of " << many.size() << " values differ, the first at " << first);
      CHECK(differ == 0);
    }
  }
}
