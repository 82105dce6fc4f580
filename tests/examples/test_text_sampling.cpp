// examples/common/text_sampling: batched samples equal samples generated one at a time with the
// same generator streams, and the recurrent window rule past the learned positions gives the
// logits of the full model run on exactly that window of the text.
#include <cmath>

#include "models/tiny_config.hpp"
#include "test_util.hpp"
#include "text_sampling.hpp"

using namespace pf;
using namespace pf::examples;
using namespace pf::test;

namespace {

void perturb(PerformerLM<float>& model) {
  Rng rng(31);
  for (auto& [name, p] : model.named_parameters())
    for (float& x : p.value()) x += float(0.3 * rng.normal());
}

}  // namespace

TEST_CASE("text sampling: N samples at once equal each sample generated alone with its stream",
          "[examples][sampling][batch]") {
  for (const std::string positions : {"learned", "rotary"}) {
    INFO("positions " << positions);
    PerformerConfig c = sized_config(256, 16, 2, 2, 32, 12, 8);
    c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
    PerformerLM<float> model(c);
    perturb(model);
    SamplingOptions options;
    options.length = 40;  // past the 12 learned positions several times
    options.temperature = 1.0;
    const std::uint64_t seed = 21;
    std::vector<Rng> streams;
    for (std::size_t i = 0; i < 4; ++i) streams.push_back(sample_stream(seed, i));
    const SamplingResult together = generate_samples(model, "abcde", options, streams);
    REQUIRE(together.samples.size() == 4);
    CHECK(together.text == together.samples[0]);
    for (std::size_t i = 0; i < 4; ++i) {
      INFO("sample " << i);
      std::vector<Rng> one{sample_stream(seed, i)};
      const SamplingResult alone = generate_samples(model, "abcde", options, one);
      CHECK(alone.samples[0].size() == options.length);
      CHECK(alone.samples[0] == together.samples[i]);
    }
    CHECK(together.samples[0] != together.samples[1]);  // the streams differ
    // Stream 0 is the seed's own generator: one sample with Rng(seed) is sample 0.
    Rng plain(seed);
    CHECK(generate_text(model, "abcde", options, plain).text == together.samples[0]);
  }
}

TEST_CASE("text sampling: past the learned positions, logits come from the lattice window of the text",
          "[examples][sampling][window]") {
  for (std::size_t context : {8, 9})
    for (std::size_t prompt_length : {3, 6, 8, 12}) {
      INFO("context " << context << ", prompt " << prompt_length);
      PerformerConfig c = sized_config(13, 16, 2, 2, 24, context, 8);
      PerformerLM<float> model(c);
      perturb(model);
      model.eval();
      const std::size_t N = 2, L = context, h = L / 2, extra = 30;
      Rng rng(4);
      std::vector<std::vector<std::size_t>> text(N);
      for (auto& t : text)
        for (std::size_t i = 0; i < prompt_length + extra; ++i) t.push_back(rng.below(c.vocab));
      text[1].assign(text[0].begin(), text[0].begin() + prompt_length);  // one prompt for both
      for (std::size_t i = prompt_length; i < prompt_length + extra; ++i) text[1].push_back(rng.below(c.vocab));
      RecurrentGeneration generation(model, std::vector<std::size_t>(text[0].begin(), text[0].begin() + prompt_length),
                                     N);
      // The rule, written out: windows start on the lattice anchor + k h and are the longest with
      // at most L tokens.
      std::size_t start = prompt_length > L ? prompt_length - h : 0;
      double worst = 0;
      for (std::size_t last = prompt_length - 1; last < prompt_length + extra; ++last) {
        if (last >= prompt_length) {
          std::vector<std::int64_t> tokens{std::int64_t(text[0][last]), std::int64_t(text[1][last])};
          generation.feed(tokens);
        }
        while (last - start >= L) start += h;
        REQUIRE(generation.window_start() == start);
        for (std::size_t i = 0; i < N; ++i) {
          const std::size_t n = last - start + 1;
          Indices ids = Indices::from_shape({1, n});
          for (std::size_t t = 0; t < n; ++t) ids(0, t) = std::int64_t(text[i][start + t]);
          const Tensor<float> full = model.forward(ids);
          for (std::size_t v = 0; v < c.vocab; ++v)
            worst = std::max(worst, double(std::abs(generation.logits(i)[v] - full.data()[(n - 1) * c.vocab + v])));
        }
      }
      CHECK(worst < 1e-4);
    }
}

TEST_CASE("text sampling: sample_token draws from softmax(logits / temperature), over the top k when asked",
          "[examples][sampling]") {
  const std::vector<float> logits = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f, 2.0f};
  const double temperature = 0.7;
  const std::size_t draws = 40000;
  for (const std::size_t top_k : {std::size_t(0), std::size_t(3)}) {
    INFO("top_k " << top_k);
    // The kept tokens: all, or the 3 highest logits (2 and 5 tie at the top, then 0).
    std::vector<bool> kept(logits.size(), top_k == 0);
    if (top_k == 3) kept[2] = kept[5] = kept[0] = true;
    std::vector<double> want(logits.size(), 0.0);
    double total = 0;
    for (std::size_t v = 0; v < logits.size(); ++v)
      if (kept[v]) total += want[v] = std::exp(double(logits[v]) / temperature);
    SamplingOptions options;
    options.temperature = temperature;
    options.top_k = top_k;
    Rng rng(3);
    std::vector<std::size_t> seen(logits.size(), 0);
    for (std::size_t i = 0; i < draws; ++i) ++seen.at(sample_token(logits.data(), logits.size(), options, rng));
    for (std::size_t v = 0; v < logits.size(); ++v) {
      INFO("token " << v);
      const double p = want[v] / total, sigma = std::sqrt(p * (1 - p) / double(draws));
      CHECK(std::abs(double(seen[v]) / double(draws) - p) <= 5 * sigma + 1e-12);
      if (!kept[v]) CHECK(seen[v] == 0);
    }
  }
  SamplingOptions greedy;
  greedy.temperature = 0;
  Rng rng(1);
  CHECK(sample_token(logits.data(), logits.size(), greedy, rng) == 2);  // the first of the tied maxima
}
