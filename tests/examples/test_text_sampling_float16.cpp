// examples/common/text_sampling with float16 decoder weights (sample_text --weights float16): the
// option reaches the decoder (logits move, by about the rounding of the weights, not more), and
// batched samples still equal samples generated alone, past the learned positions too.
#include <cmath>

#include "models/tiny_config.hpp"
#include "test_util.hpp"
#include "text_sampling.hpp"

using namespace pf;
using namespace pf::examples;
using namespace pf::test;

TEST_CASE("text sampling: float16 weights reach the recurrent decoder, batched equals alone",
          "[examples][sampling][float16]") {
  PerformerConfig c = sized_config(256, 16, 2, 2, 32, 12, 8);
  PerformerLM<float> model(c);
  Rng rng(5);
  for (auto& [name, p] : model.named_parameters())
    for (float& x : p.value()) x += float(0.3 * rng.normal());
  model.eval();
  const std::vector<std::size_t> prompt = {'a', 'b', 'c'};
  RecurrentGeneration wide(model, prompt, 1), half(model, prompt, 1, WeightStorage::float16);
  double largest = 0, scale = 0;
  for (std::size_t t = 0; t < 20; ++t) {  // past the 12 learned positions (the window rule)
    const std::vector<std::int64_t> token = {std::int64_t('a' + t % 7)};
    wide.feed(token);
    half.feed(token);
    for (std::size_t v = 0; v < c.vocab; ++v) {
      largest = std::max(largest, double(std::abs(wide.logits(0)[v] - half.logits(0)[v])));
      scale = std::max(scale, double(std::abs(wide.logits(0)[v])));
    }
  }
  CHECK(largest > 0);              // the float16 weights are in use
  CHECK(largest < 1e-2 * scale);   // and only rounded (2^-11 relative per weight), not garbled

  SamplingOptions options;
  options.length = 30;
  options.temperature = 1.0;
  options.weights = WeightStorage::float16;
  std::vector<Rng> streams = {sample_stream(3, 0), sample_stream(3, 1), sample_stream(3, 2)};
  const SamplingResult together = generate_samples(model, "abc", options, streams);
  for (std::size_t i = 0; i < 3; ++i) {
    std::vector<Rng> one = {sample_stream(3, i)};
    CHECK(generate_samples(model, "abc", options, one).text == together.samples[i]);
  }
}
