// PerformerLM::prefill (the prompt in one chunked pass) against PerformerLM::step token by token:
// the same per-layer RNN state and the same next-token logits, in float64, for every FAVOR kernel a
// config can name and every kind of positions (learned and sinusoidal move with the state's
// position, rotary rotates q and k by it).
#include <cmath>

#include "models/performer_lm.hpp"
#include "models/tiny_config.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

Indices columns(const Indices& ids, std::size_t t0, std::size_t n) {
  const std::size_t B = ids.shape()[0];
  Indices out = Indices::from_shape({B, n});
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < n; ++t) out(b, t) = ids(b, t0 + t);
  return out;
}

double max_abs_diff(const double* a, const double* b, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

}  // namespace

TEST_CASE("PerformerLM: prefill state and logits equal token-by-token steps (float64)", "[models][lm][prefill]") {
  for (const std::string kernel : {"favor-positive", "favor-hyperbolic", "favor-trig", "favor-relu"})
    for (const std::string positions : {"learned", "rotary", "sinusoidal", "none"}) {
      INFO(kernel << ", positions " << positions);
      PerformerConfig c = sized_config(11, 8, 2, 2, 12, 24, 8);
      c.attention = parse_attention_kernel(kernel);
      c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
      c.seed = 5;
      PerformerLM<double> model(c);
      model.eval();
      const std::size_t B = 2, L = 20;
      const Indices ids = random_ids(B, L, c.vocab, 17);
      auto stepped = model.initial_state(B);
      Tensor<double> step_logits;
      for (std::size_t t = 0; t < L; ++t) {
        Indices tokens = Indices::from_shape({B});
        for (std::size_t b = 0; b < B; ++b) tokens(b) = ids(b, t);
        step_logits = model.step(tokens, stepped);
      }
      // 9 tokens from the empty state, then 11 that continue it.
      auto state = model.initial_state(B);
      model.prefill(columns(ids, 0, 9), state);
      const Tensor<double> logits = model.prefill(columns(ids, 9, 11), state);
      REQUIRE(logits.shape() == Shape{B, c.vocab});
      CHECK(state.position == L);
      CHECK(max_abs_diff(logits.data(), step_logits.data(), logits.numel()) < 1e-10);
      for (std::size_t i = 0; i < c.depth; ++i) {
        INFO("block " << i);
        const auto& got = state.blocks[i];
        const auto& want = stepped.blocks[i];
        CHECK(got.position == want.position);
        CHECK(got.favor.steps == want.favor.steps);
        REQUIRE(got.favor.s1.size() == want.favor.s1.size());
        CHECK(max_abs_diff(got.favor.s1.data(), want.favor.s1.data(), got.favor.s1.size()) < 1e-10);
      }
      // And the next-token logits are those of the full forward at the last position.
      const Tensor<double> full = model.forward(ids);
      for (std::size_t b = 0; b < B; ++b)
        CHECK(max_abs_diff(logits.data() + b * c.vocab, full.data() + (b * L + L - 1) * c.vocab, c.vocab) < 1e-10);
    }
}

TEST_CASE("PerformerLM: prefill refuses prompts past the learned positions and non-RNN models",
          "[models][lm][prefill][errors]") {
  PerformerConfig c = sized_config(11, 8, 1, 2, 12, 6, 8);
  PerformerLM<double> model(c);
  auto state = model.initial_state(1);
  REQUIRE_THROWS_WITH(model.prefill(random_ids(1, 7, 11, 1), state),
                      Catch::Contains("past the learned positions") && Catch::Contains("context 6"));
  model.prefill(random_ids(1, 4, 11, 1), state);
  REQUIRE_THROWS_WITH(model.prefill(random_ids(1, 3, 11, 1), state), Catch::Contains("positions 4 .. 6"));
  c.attention = AttentionKernel::exact;
  PerformerLM<double> exact(c);
  REQUIRE_THROWS_WITH(exact.prefill(random_ids(1, 3, 11, 1), state), Catch::Contains("FAVOR"));
}
