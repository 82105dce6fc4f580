// --init-from: a new run from another run's weights (examples/common/init_from.hpp and the
// training session). The source is a tiny exact-attention LM trained a few steps, so its weights
// are not any model's initialisation.
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "engine/engine.hpp"
#include "init_from.hpp"
#include "models/performer_lm.hpp"
#include "temp_dir.hpp"
#include "training_run.hpp"
#include "training_session.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

PerformerConfig tiny_config(AttentionKernel kernel, std::uint64_t seed) {
  PerformerConfig c;
  c.vocab = 16;
  c.width = 8;
  c.depth = 2;
  c.heads = 2;
  c.ff_hidden = 16;
  c.context = 8;
  c.features = 16;
  c.attention = kernel;
  c.seed = seed;
  return c;
}

Indices tokens(std::size_t B, std::size_t L, std::uint64_t seed) {
  Rng rng(seed);
  Indices ids = Indices::from_shape({B, L});
  for (auto& id : ids) id = std::int64_t(rng.below(16));
  return ids;
}

// A trained source run saved as train_text saves it (model, AdamW state, run metadata).
void write_source_run(const std::string& path, const PerformerConfig& config) {
  PerformerLM<float> model(config);
  AdamW<float> optimizer(model.named_parameters());
  const Indices ids = tokens(4, config.context, 3);
  for (int step = 0; step < 3; ++step) {
    model.loss(ids, ids).backward();
    optimizer.step();
    optimizer.zero_grad();
  }
  RunState run;
  run.step = 3;
  run.total_steps = 3;
  run.config_json = config.to_json();
  save_run(path, model, optimizer, run);
}

Tensor<float> logits_of(PerformerLM<float>& model, const Indices& ids) {
  NoGradGuard no_grad;
  model.eval();
  return model.forward(ids);
}

bool same_values(const Tensor<float>& a, const Tensor<float>& b) {
  if (a.shape() != b.shape()) return false;
  for (std::size_t i = 0; i < a.numel(); ++i)
    if (a.data()[i] != b.data()[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("init-from copies every parameter: the new exact model computes what the saved one does", "[examples][init_from]") {
  TempDir dir("init_from");
  const std::string path = dir.file("source.safetensors");
  const PerformerConfig source_config = tiny_config(AttentionKernel::exact, 1);
  write_source_run(path, source_config);
  PerformerLM<float> source(source_config);
  AdamW<float> source_optimizer(source.named_parameters());
  load_run(path, source, source_optimizer);

  const PerformerConfig config = tiny_config(AttentionKernel::exact, 9);  // another initialisation
  PerformerLM<float> model(config);
  const Indices ids = tokens(2, 8, 5);
  REQUIRE_FALSE(same_values(logits_of(model, ids), logits_of(source, ids)));
  const InitFromSummary s = init_weights_from(path, model, config, "adamw");
  CHECK(same_values(logits_of(model, ids), logits_of(source, ids)));
  CHECK(s.tensors == model.named_parameters().size());
  CHECK(s.values == model.parameter_count());
  CHECK(s.source_step == 3);
  CHECK(s.source_attention == "exact");
  CHECK_FALSE(s.fresh_projections);
}

TEST_CASE("init-from swaps FAVOR+ into an exact model: same weights, fresh projections, close outputs",
          "[examples][init_from]") {
  TempDir dir("init_from");
  const std::string path = dir.file("source.safetensors");
  write_source_run(path, tiny_config(AttentionKernel::exact, 1));
  PerformerLM<float> exact(tiny_config(AttentionKernel::exact, 1));
  AdamW<float> exact_optimizer(exact.named_parameters());
  load_run(path, exact, exact_optimizer);

  PerformerConfig config = tiny_config(AttentionKernel::favor_positive, 1);
  config.features = 512;  // many features: FAVOR+ close to softmax on this small model
  PerformerLM<float> favor(config);
  const InitFromSummary s = init_weights_from(path, favor, config, "adamw");
  CHECK(s.fresh_projections);
  CHECK_THAT(s.line, Contains("favor-positive random projections drawn fresh"));
  const auto exact_params = exact.named_parameters(), favor_params = favor.named_parameters();
  REQUIRE(exact_params.size() == favor_params.size());
  for (std::size_t i = 0; i < exact_params.size(); ++i) {
    INFO(exact_params[i].first);
    CHECK(same_values(exact_params[i].second, favor_params[i].second));
  }
  // The projection is the new model's own draw (its seed), not absent or zero.
  const Tensor<float> w = favor.stack().block(0).attention().projection();
  REQUIRE(w.numel() == 512 * 4);
  const Indices ids = tokens(2, 8, 5);
  const Tensor<float> a = logits_of(exact, ids), b = logits_of(favor, ids);
  double worst = 0;
  for (std::size_t i = 0; i < a.numel(); ++i) worst = std::max(worst, double(std::abs(a.data()[i] - b.data()[i])));
  CHECK(worst < 0.05);
  CHECK(worst > 0);  // an approximation, not the same computation
}

TEST_CASE("init-from refuses a checkpoint that does not fit, naming the tensors and shapes", "[examples][init_from]") {
  TempDir dir("init_from");
  const std::string path = dir.file("source.safetensors");
  write_source_run(path, tiny_config(AttentionKernel::exact, 1));

  PerformerConfig wider = tiny_config(AttentionKernel::exact, 1);
  wider.width = 12;
  PerformerLM<float> wide_model(wider);
  const Tensor<float> before = wide_model.named_parameters()[0].second;
  const float first = before.data()[0];
  REQUIRE_THROWS_WITH(init_weights_from(path, wide_model, wider, "adamw"),
                      Contains("parameter 'stack.token_embedding.weight': checkpoint [16,8], model [16,12]") &&
                          Contains("width 8 in the checkpoint, 12 here"));
  CHECK(before.data()[0] == first);  // nothing copied

  PerformerConfig deeper = tiny_config(AttentionKernel::exact, 1);
  deeper.depth = 3;
  PerformerLM<float> deep_model(deeper);
  REQUIRE_THROWS_WITH(init_weights_from(path, deep_model, deeper, "adamw"),
                      Contains("parameter 'stack.blocks.2.attention.q_proj.weight' [8,8] is not in the checkpoint"));

  PerformerConfig shallower = tiny_config(AttentionKernel::exact, 1);
  shallower.depth = 1;
  PerformerLM<float> shallow_model(shallower);
  REQUIRE_THROWS_WITH(init_weights_from(path, shallow_model, shallower, "adamw"),
                      Contains("checkpoint parameters this model does not have: 'stack.blocks.1."));

  PerformerConfig bidirectional = tiny_config(AttentionKernel::exact, 1);
  bidirectional.causal = false;
  PerformerLM<float> encoder(bidirectional);
  REQUIRE_THROWS_WITH(init_weights_from(path, encoder, bidirectional, "adamw"), Contains("another program or task"));

  PerformerConfig ok = tiny_config(AttentionKernel::exact, 1);
  PerformerLM<float> model(ok);
  REQUIRE_THROWS_WITH(init_weights_from(dir.file("missing.safetensors"), model, ok, "adamw"),
                      Contains("missing.safetensors' does not exist"));
}

TEST_CASE("a run started with --init-from starts at step 0 with a fresh optimizer and is evaluated before its first step",
          "[examples][init_from]") {
  TempDir dir("init_from");
  const std::string source = dir.file("exact.safetensors");
  write_source_run(source, tiny_config(AttentionKernel::exact, 1));

  SessionFlags flags;
  flags.budget.steps = 2;
  flags.budget.warmup = 1;
  flags.threads = 1;
  flags.checkpoint = dir.file("swap.safetensors");
  flags.init_from = source;
  TrainingSession session("test", flags);
  const PerformerConfig config = tiny_config(AttentionKernel::favor_positive, 1);
  PerformerLM<float> model(config);
  session.start(model, config);
  CHECK(session.run().step == 0);
  CHECK(session.optimizer().step_count() == 0);

  const Indices ids = tokens(2, 8, 5);
  std::vector<std::int64_t> evaluated_at;
  TrainingHooks<float> hooks;
  hooks.next_loss = [&] { return std::make_pair(model.loss(ids, ids), 16.0); };
  hooks.evaluate_line = [&] {
    evaluated_at.push_back(session.run().step);
    session.log().write("eval", {{"step", double(session.run().step)}, {"elapsed_s", 0.0}});
    return std::string("evaluated");
  };
  session.train(hooks);
  CHECK(evaluated_at == std::vector<std::int64_t>{0, 2});
  CHECK(session.run().step == 2);
  CHECK(session.optimizer().step_count() == 2);
  CHECK(peek_run(flags.checkpoint).step == 2);

  std::ifstream log(session.log_path());
  std::string first, last, line;
  std::getline(log, first);
  while (std::getline(log, line)) last = line;
  CHECK_THAT(first, Contains("\"kind\":\"eval\",\"step\":0"));
  CHECK_THAT(last, Contains("\"kind\":\"summary\",\"step\":2") && Contains("peak_rss_bytes"));

  SessionFlags both = flags;
  both.resume = true;
  REQUIRE_THROWS_WITH(TrainingSession("test", both), Contains("--resume and --init-from") && Contains("conflict"));
}
