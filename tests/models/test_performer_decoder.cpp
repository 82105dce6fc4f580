// PerformerDecoder (the lean RNN step) against PerformerLM::forward, the full causal model, at
// every position: float64 to 1e-10, for every FAVOR kernel a config can name and every kind of
// positions; rows at different positions; prefill then steps; and a row's float32 result does not
// depend on how many rows step with it (what batched sampling relies on).
#include <cmath>

#include "models/performer_decoder.hpp"
#include "models/tiny_config.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

PerformerConfig decoder_config(const std::string& kernel, const std::string& positions) {
  PerformerConfig c = sized_config(11, 16, 2, 2, 24, 16, 8);
  c.attention = parse_attention_kernel(kernel);
  c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
  c.seed = 9;
  return c;
}

// Move every parameter off its initial value (zero biases, unit norms, small embeddings), so
// each one shows in the outputs.
template <class T>
void perturb(PerformerLM<T>& model) {
  Rng rng(77);
  for (auto& [name, p] : model.named_parameters())
    for (T& x : p.value()) x += T(0.3 * rng.normal());
}

}  // namespace

TEST_CASE("PerformerDecoder: lean steps equal the full forward at every position (float64)",
          "[models][decoder]") {
  for (const std::string kernel : {"favor-positive", "favor-hyperbolic", "favor-trig", "favor-relu"})
    for (const std::string positions : {"learned", "rotary", "sinusoidal", "none"}) {
      INFO(kernel << ", positions " << positions);
      const PerformerConfig c = decoder_config(kernel, positions);
      PerformerLM<double> model(c);
      perturb(model);
      model.eval();
      const std::size_t B = 3, L = 16, V = c.vocab;
      const Indices ids = random_ids(B, L, V, 5);
      const Tensor<double> full = model.forward(ids);
      PerformerDecoder<double> decoder(model, B);
      double worst = 0, scale = 0;
      for (std::size_t t = 0; t < L; ++t) {
        std::vector<std::int64_t> tokens(B);
        for (std::size_t b = 0; b < B; ++b) tokens[b] = ids(b, t);
        const double* logits = decoder.step(tokens.data(), 0, B);
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t v = 0; v < V; ++v) {
            const double want = full.data()[(b * L + t) * V + v];
            worst = std::max(worst, std::abs(logits[b * V + v] - want));
            scale = std::max(scale, std::abs(want));
          }
      }
      CHECK(scale > 0.1);  // the comparison is not between near-zero logits
      CHECK(worst < 1e-10);
      CHECK(decoder.position(0) == L);
    }
}

TEST_CASE("PerformerDecoder: rows at different positions, after a prefill, equal the full forward",
          "[models][decoder][prefill]") {
  for (const std::string positions : {"learned", "rotary"}) {
    INFO("positions " << positions);
    const PerformerConfig c = decoder_config("favor-positive", positions);
    PerformerLM<double> model(c);
    perturb(model);
    model.eval();
    const std::size_t L = 14, V = c.vocab, lead = 5;
    const Indices ids = random_ids(2, L, V, 8);
    const Tensor<double> full = model.forward(ids);
    PerformerDecoder<double> decoder(model, 2);
    // Row 1 takes its first `lead` tokens in one prefill; row 0 starts from the empty state.
    Indices head = Indices::from_shape({1, lead});
    for (std::size_t t = 0; t < lead; ++t) head(0, t) = ids(1, t);
    const Tensor<double> after_prefill = decoder.prefill(1, head);
    for (std::size_t v = 0; v < V; ++v)
      CHECK(std::abs(after_prefill.data()[v] - full.data()[(L + lead - 1) * V + v]) < 1e-10);
    double worst = 0;
    for (std::size_t t = 0; t + lead < L; ++t) {
      const std::int64_t tokens[2] = {ids(0, t), ids(1, t + lead)};
      const double* logits = decoder.step(tokens, 0, 2);
      for (std::size_t v = 0; v < V; ++v) {
        worst = std::max(worst, std::abs(logits[v] - full.data()[t * V + v]));
        worst = std::max(worst, std::abs(logits[V + v] - full.data()[(L + t + lead) * V + v]));
      }
    }
    CHECK(worst < 1e-10);
    CHECK(decoder.position(0) == L - lead);
    CHECK(decoder.position(1) == L);
  }
}

TEST_CASE("PerformerDecoder: a row's float32 logits do not depend on the rows stepping with it",
          "[models][decoder][batch]") {
  const PerformerConfig c = decoder_config("favor-positive", "learned");
  PerformerLM<float> model(c);
  perturb(model);
  model.eval();
  const Indices ids = random_ids(4, 10, c.vocab, 12);
  PerformerDecoder<float> together(model, 4), alone(model, 1);
  for (std::size_t t = 0; t < 10; ++t) {
    std::vector<std::int64_t> tokens(4);
    for (std::size_t b = 0; b < 4; ++b) tokens[b] = ids(b, t);
    const float* all = together.step(tokens.data(), 0, 4);
    const float* one = alone.step(&tokens[2], 0, 1);
    for (std::size_t v = 0; v < c.vocab; ++v) REQUIRE(all[2 * c.vocab + v] == one[v]);
  }
}

// Wide enough that every product has several pairs of panels and a partial last panel, so each
// row count 1 .. 9 goes through other row tiles (4, 3, 2, 1) and panel groups; on 1 and 2 threads
// (where each product, or the whole step, runs in two halves).
TEST_CASE("PerformerDecoder: float32 logits of a row are bit-identical for 1 .. 9 rows, 1 or 2 threads (the phased step)",
          "[models][decoder][batch]") {
  // favor-positive takes the phased 2-thread step; other kernels the per-product halves.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"favor-positive", "learned"}, {"favor-positive", "rotary"}, {"favor-hyperbolic", "learned"}};
  for (const auto& [kernel, positions] : cases) {
    INFO(kernel << ", positions " << positions);
    PerformerConfig c = sized_config(70, 64, 2, 2, 80, 16, 24);
    c.seed = 4;
    c.attention = parse_attention_kernel(kernel);
    c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
    PerformerLM<float> model(c);
    perturb(model);
    model.eval();
    const std::size_t L = 6, most = 9;
    const Indices ids = random_ids(most, L, c.vocab, 21);
    PerformerDecoder<float> alone(model, 1);
    std::vector<std::vector<float>> want;  // row `most - 1`'s logits at every t, alone on 1 thread
    const ThreadsFor serial(1);
    for (std::size_t t = 0; t < L; ++t) {
      const std::int64_t token = ids(most - 1, t);
      const float* one = alone.step(&token, 0, 1);
      want.emplace_back(one, one + c.vocab);
    }
    for (const int threads : {1, 2}) {
      const ThreadsFor pool(threads);
      for (std::size_t rows = 1; rows <= most; ++rows) {
        INFO(rows << " rows, " << threads << " threads");
        PerformerDecoder<float> together(model, rows);
        for (std::size_t t = 0; t < L; ++t) {
          std::vector<std::int64_t> tokens(rows);
          for (std::size_t b = 0; b < rows; ++b) tokens[b] = ids(most - rows + b, t);  // the last row is row most-1
          const float* all = together.step(tokens.data(), 0, rows);
          for (std::size_t v = 0; v < c.vocab; ++v) REQUIRE(all[(rows - 1) * c.vocab + v] == want[t][v]);
        }
      }
    }
  }
}

TEST_CASE("PerformerDecoder: bad tokens, rows, positions and models are refused", "[models][decoder][errors]") {
  PerformerConfig c = decoder_config("favor-positive", "learned");
  c.context = 2;
  PerformerLM<float> model(c);
  PerformerDecoder<float> decoder(model, 2);
  const std::int64_t bad[2] = {11, 0}, good[2] = {1, 2};
  REQUIRE_THROWS_WITH(decoder.step(bad, 0, 2), Catch::Contains("token 11") && Catch::Contains("[0, 11)"));
  REQUIRE_THROWS_WITH(decoder.step(good, 1, 2), Catch::Contains("rows 1 .. 3 of 2"));
  decoder.step(good, 0, 2);
  decoder.step(good, 0, 2);
  REQUIRE_THROWS_WITH(decoder.step(good, 0, 2), Catch::Contains("position 2") && Catch::Contains("context 2"));
  decoder.reset_row(0);
  CHECK(decoder.position(0) == 0);
  CHECK_NOTHROW(decoder.step(good, 0, 1));
  c.attention = AttentionKernel::exact;
  PerformerLM<float> exact(c);
  REQUIRE_THROWS_WITH(PerformerDecoder<float>(exact, 1), Catch::Contains("FAVOR") && Catch::Contains("exact"));
}
