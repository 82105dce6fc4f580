// The engine under load: several threads of a caller run the RNN-mode step of one shared model
// and training steps of their own models while another thread keeps the engine's pool busy.
// What makes this safe (README, "Threads"): the autodiff tape is per tensor graph (no global
// tape), gradient mode is per thread, the memory pool takes a lock, and the thread pool runs one
// parallel loop at a time (callers queue; each index runs on one thread). What a caller must not
// do is share one model between threads that train it (gradients and optimizer state are the
// model's); a model in eval mode is read-only, so its step() may serve several threads.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/optim/optimizers.hpp"
#include "models/performer_lm.hpp"
#include "test_util.hpp"
#include "tiny_config.hpp"

using namespace pf;
using namespace pf::test;

namespace {

PerformerConfig load_config() {
  PerformerConfig c = sized_config(13, 32, 2, 2, 48, 16, 16);
  c.causal = true;
  c.seed = 21;
  return c;
}

// Logits of 12 recurrent steps from a batch of 2, flattened.
std::vector<float> generate(const PerformerLM<float>& model, std::uint64_t seed) {
  Rng rng(seed);
  auto state = model.initial_state(2);
  std::vector<float> all;
  for (int t = 0; t < 12; ++t) {
    Indices tokens = Indices::from_shape({2});
    for (std::size_t b = 0; b < 2; ++b) tokens(b) = std::int64_t(rng.below(13));
    const Tensor<float> logits = model.step(tokens, state);
    all.insert(all.end(), logits.data(), logits.data() + logits.numel());
  }
  return all;
}

// Losses of 6 training steps of a fresh model on batches drawn from `seed`, then its weights.
std::vector<float> train(std::uint64_t seed) {
  PerformerLM<float> model(load_config());
  AdamW<float> optimizer(model.named_parameters());
  Rng rng(seed);
  std::vector<float> out;
  for (int step = 0; step < 6; ++step) {
    Indices ids = Indices::from_shape({3, 16}), targets = Indices::from_shape({3, 16});
    for (auto& v : ids) v = std::int64_t(rng.below(13));
    for (auto& v : targets) v = std::int64_t(rng.below(13));
    Tensor<float> loss = model.loss(ids, targets);
    out.push_back(loss.item());
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
  }
  for (const auto& [name, p] : model.named_parameters()) out.insert(out.end(), p.data(), p.data() + p.numel());
  return out;
}

}  // namespace

TEST_CASE("under load: RNN steps and training steps from several threads while the pool is busy",
          "[models][threads][load]") {
  ThreadsFor scope(2);
  PerformerLM<float> shared(load_config());
  shared.eval();
  constexpr int kCallers = 3;
  // What each caller must get: the same calls made one after another on this thread.
  std::vector<std::vector<float>> expected_steps, expected_training;
  for (int c = 0; c < kCallers; ++c) {
    expected_steps.push_back(generate(shared, 100 + c));
    expected_training.push_back(train(200 + c));
  }

  std::atomic<bool> stop{false};
  std::atomic<long> busy_loops{0}, busy_wrong{0};
  std::thread busy([&] {  // keeps the pool's workers taken with GEMMs of its own
    Rng rng(9);
    const Tensor<float> a = randn<float>({96, 96}, rng);
    while (!stop.load()) {
      const Tensor<float> p = matmul(a, a);
      if (p.numel() != 96 * 96) busy_wrong.fetch_add(1);  // Catch2 assertions are for the main thread only
      busy_loops.fetch_add(1);
    }
  });
  std::vector<std::vector<float>> got_steps(kCallers), got_training(kCallers);
  std::atomic<int> ready{0}, active{0}, most_active{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      ready.fetch_add(1);
      while (ready.load() < kCallers) std::this_thread::yield();  // start together
      for (int round = 0; round < 5; ++round) {
        const int now = active.fetch_add(1) + 1;
        for (int seen = most_active.load(); now > seen && !most_active.compare_exchange_weak(seen, now);) {
        }
        got_steps[c] = generate(shared, 100 + c);
        got_training[c] = train(200 + c);
        active.fetch_sub(1);
      }
    });
  for (auto& t : callers) t.join();
  stop = true;
  busy.join();

  CHECK(busy_loops.load() > 0);
  CHECK(most_active.load() >= 2);  // the callers really overlapped
  CHECK(busy_wrong.load() == 0);
  for (int c = 0; c < kCallers; ++c) {
    INFO("caller " << c);
    CHECK(got_steps[c] == expected_steps[c]);        // bit-identical
    CHECK(got_training[c] == expected_training[c]);  // losses and weights, bit-identical
  }
  // The callers' seeds differ, so equal results are not one result copied everywhere.
  CHECK(expected_steps[0] != expected_steps[1]);
  CHECK(expected_training[0] != expected_training[1]);
}
