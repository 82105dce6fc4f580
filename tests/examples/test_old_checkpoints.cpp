// Run checkpoints written by older versions still load: tests/fixtures/train_text_run_07f5aac is a
// tiny train_text run saved by commit 07f5aac (tests/fixtures/README.md says how), when dropout
// generators were run metadata (run.dropout_rngs) instead of module buffers. The reference values
// below were computed from that file by the code of 07f5aac.
#include <string>

#include <catch2/catch.hpp>

#include "engine/optim/optimizers.hpp"
#include "models/performer_lm.hpp"
#include "temp_dir.hpp"
#include "text_sampling.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;

namespace {

const std::string kOldRun = std::string(PERFORMER_TEST_FIXTURES) + "/train_text_run_07f5aac.safetensors";

Indices byte_ids(const std::string& text) {
  Indices ids = Indices::from_shape({1, text.size()});
  for (std::size_t i = 0; i < text.size(); ++i) ids(0, i) = static_cast<unsigned char>(text[i]);
  return ids;
}

}  // namespace

TEST_CASE("A train_text run checkpoint of 07f5aac loads: config and counters", "[examples][checkpoint][compat]") {
  const RunState run = peek_run(kOldRun);
  CHECK(run.step == 2);
  CHECK(run.total_steps == 2);
  const PerformerConfig c = PerformerConfig::from_json(run.config_json);
  CHECK(c.attention == AttentionKernel::favor_hyperbolic);
  CHECK(c.positions == PositionKind::rotary);
  CHECK(c.width == 8);
  CHECK(c.depth == 1);
  CHECK(c.heads == 2);
  CHECK(c.features == 4);
  CHECK(c.context == 8);
  CHECK(c.dropout == 0.25);
  CHECK(c.seed == 3);
}

TEST_CASE("A train_text run checkpoint of 07f5aac loads: weights, dropout generators, outputs",
          "[examples][checkpoint][compat]") {
  PerformerLM<float> model(PerformerConfig::from_json(peek_run(kOldRun).config_json));
  AdamW<float> optimizer(model.named_parameters());
  load_run(kOldRun, model, optimizer);
  CHECK(optimizer.step_count() == 2);
  // The old metadata's dropout states became the dropout buffers (they are used, so an old run
  // resumes with the masks it would have drawn).
  CHECK(rng_state_to_string(model.stack().block(0).attention_dropout().rng_state()) ==
        "14041194822241721758,9171833511873569912,11734294447268885811,4565903421893452211");
  CHECK(rng_state_to_string(model.stack().block(0).feed_forward_dropout().rng_state()) ==
        "9600639106944750901,11225651366986575907,8508229929511314229,3809701925744448697");
  NoGradGuard no_grad;
  const Indices ids = byte_ids("the quic");
  // Training mode: the losses depend on the dropout masks drawn from the restored generators.
  CHECK(model.loss(ids, ids).item() == Approx(5.32275057).epsilon(1e-5));
  CHECK(model.loss(ids, ids).item() == Approx(5.28336191).epsilon(1e-5));
  model.eval();
  CHECK(model.loss(ids, ids).item() == Approx(5.24682808).epsilon(1e-5));
  const Tensor<float> logits = model.forward(ids);
  CHECK(logits.value()(0, 7, 't') == Approx(0.43365705).epsilon(1e-4));
  CHECK(logits.value()(0, 7, ' ') == Approx(0.481665969).epsilon(1e-4));
  CHECK(logits.value()(0, 7, 'q') == Approx(-0.287451655).epsilon(1e-4));
  CHECK(logits.value()(0, 7, 255) == Approx(-0.29782927).epsilon(1e-4));
  // Sampling in RNN mode (temperature 1, seed 7) gives the bytes 07f5aac sampled.
  SamplingOptions sampling;
  sampling.length = 24;
  sampling.temperature = 1.0;
  Rng rng(7);
  CHECK(printable(generate_text(model, "the ", sampling, rng).text) ==
        R"(4\xca\xf2P\xb2\x8fr\xd7\x9f,\x0b$U\xf3\xe3\xf1\xe2\x93\xd82"=\x12\xe0)");
}

TEST_CASE("A run checkpoint written now keeps the dropout generators as tensors, not metadata",
          "[examples][checkpoint]") {
  const PerformerConfig c = PerformerConfig::from_json(peek_run(kOldRun).config_json);
  PerformerLM<float> old_model(c);
  AdamW<float> old_optimizer(old_model.named_parameters());
  const RunState run = load_run(kOldRun, old_model, old_optimizer);
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  save_run(path, old_model, old_optimizer, run);
  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.metadata.count("run.dropout_rngs") == 0);
  CHECK(file.metadata.at("performer.run") == "2");
  CHECK(file.find("stack.blocks.0.attention_dropout.rng_state"));

  PerformerConfig other = c;
  other.seed = 11;  // other dropout seeds: the states must come from the file
  PerformerLM<float> model(other);
  AdamW<float> optimizer(model.named_parameters());
  CHECK(load_run(path, model, optimizer).step == 2);
  CHECK(model.stack().block(0).feed_forward_dropout().rng_state() ==
        old_model.stack().block(0).feed_forward_dropout().rng_state());
}
