// train_text: train a byte-level Performer language model on a text file, plain or gzip (default:
// the King James Bible from Debian's bible-kjv), report validation bits per character on a fixed
// held-out slice, save resumable checkpoints, draw the curve as an SVG, and print a sample
// generated in RNN mode from a prompt taken from the held-out text.
//
//   train_text                          # defaults: 4 layers, width 128, FAVOR+, 3 minutes
//   train_text --minutes 30 --checkpoint runs/kjv.safetensors
//   train_text --resume --checkpoint runs/kjv.safetensors
//   train_text --attention exact        # the same model with exact softmax attention
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "models/performer_flops.hpp"
#include "models/performer_lm.hpp"
#include "flag_checks.hpp"
#include "model_flags.hpp"
#include "progress.hpp"
#include "text_corpus.hpp"
#include "text_sampling.hpp"
#include "training_session.hpp"

using namespace pf;
using namespace pf::examples;

namespace {

// train_text's schedule: 3 minutes (steps 0), validation every 250 steps, a save every 500.
TrainingBudget text_budget() {
  TrainingBudget b;
  b.steps = 0;
  b.minutes = 3;
  b.lr = 4e-3;  // of 2e-3, 4e-3 and 6e-3 over 1000 steps, 4e-3 gave the lowest validation bits/char
  b.min_lr = 1e-4;
  b.warmup = 100;
  b.clip = 1.0;
  b.eval_every_steps = 250;
  b.checkpoint_every = 500;
  return b;
}

struct Options {
  std::string data = kDefaultCorpus;
  PerformerConfig model;
  std::size_t batch = 16;  // the global batch: under mpirun each rank computes batch / ranks rows
  SessionFlags session;
  std::size_t eval_tokens = 1 << 17;
  std::string prompt = "";  // default: the first line of the held-out text (default_prompt)
  SamplingOptions sampling;
  std::uint64_t sample_seed = 7;
};

// Mean bits per character of the model on fixed held-out windows, each rank taking its share.
double validation_bits_per_char(PerformerLM<float>& model, const std::vector<TokenBatch>& batches,
                                const TrainingSession& session) {
  NoGradGuard no_grad;
  model.eval();
  std::vector<double> nats_and_count = {0, 0};
  const Shard mine = session.share_of(batches.size());
  for (std::size_t i = mine.begin; i < mine.begin + mine.count; ++i) {
    const TokenBatch& b = batches[i];
    const double n = static_cast<double>(b.targets.size());
    nats_and_count[0] += model.loss(b.inputs, b.targets).item() * n;
    nats_and_count[1] += n;
  }
  session.sum_over_ranks(nats_and_count);
  model.train();
  return nats_and_count[0] / nats_and_count[1] / std::log(2.0);
}

int run(Options o) {
  TrainingSession session("train_text", o.session);
  const TextCorpus corpus = load_text_corpus(o.data);
  if (corpus.gzip) session.print("{}: gzip-compressed, training on the decompressed text\n", corpus.source);
  std::fflush(stdout);
  if (!corpus.warning.empty() && session.is_root()) fmt::print(stderr, "train_text: warning: {}\n", corpus.warning);
  const std::string prompt = o.prompt.empty() ? default_prompt(corpus.validation) : o.prompt;
  // sample_text continues from the same prompt; safetensors metadata must be UTF-8
  Metadata text_metadata;
  if (is_valid_utf8(corpus.source)) text_metadata.emplace("text.data", corpus.source);
  if (is_valid_utf8(prompt)) text_metadata.emplace("text.prompt", prompt);
  session.set_checkpoint_metadata(text_metadata);

  session.adopt_resumed_config(o.model);
  o.model.causal = true;
  o.model.vocab = 256;
  o.model.validate();
  session.check_batch(o.batch);
  PerformerLM<float> model(o.model);
  session.start(model, o.model);

  const std::size_t T = o.model.context, B = o.batch;
  const Shard rows = session.shard(B);
  const std::vector<TokenBatch> validation = fixed_windows(corpus.validation, B, T, o.eval_tokens);
  session.print("data: {} ({} train / {} held-out bytes); model: {} parameters, {} layers, width {}, {} heads, "
                "attention {} (m = {}), context {}, batch {}, {} threads\n",
                corpus.source, corpus.train.size(), corpus.validation.size(), model.parameter_count(), o.model.depth,
                o.model.width, o.model.heads, o.model.attention, o.model.features, T, B, session.threads());

  double bpc = NAN;
  TrainingHooks<float> hooks;
  hooks.next_loss = [&] {
    // Every rank draws the global batch (the same stream as one process) and trains on its rows.
    const TokenBatch batch = random_windows(corpus.train, B, T, session.data_rng());
    return std::make_pair(model.loss(take_rows(batch.inputs, rows), take_rows(batch.targets, rows)),
                          double(rows.count * T));
  };
  hooks.evaluate_line = [&] {
    bpc = validation_bits_per_char(model, validation, session);
    const RunState& run = session.run();
    session.log().write("eval", {{"step", double(run.step)}, {"val_bpc", bpc}, {"elapsed_s", run.elapsed_seconds}});
    return fmt::format("step {}: validation {:.4f} bits/char ({} trained)", run.step, bpc, format_duration(run.elapsed_seconds));
  };
  hooks.rate_key = "tokens_per_s";
  hooks.flops_per_unit = lm_flops_per_token(o.model).training();
  hooks.curve_metric = {"val_bpc", "validation bits/char"};
  const TrainingSummary summary = session.train(hooks);
  const RunState& run = session.run();
  session.print("trained {} steps in {} ({:.0f} tokens/s); validation {:.4f} bits/char on {} held-out bytes\n", run.step,
                format_duration(run.elapsed_seconds), summary.units_per_second, bpc, validation.size() * B * T);
  session.print_footer(summary);

  if (o.sampling.length > 0 && session.is_root()) {
    Rng rng(o.sample_seed);
    const SamplingResult sample = generate_text(model, prompt, o.sampling, rng);
    fmt::print("\nsample (temperature {}, top-k {}, {} mode):\n{}{}\n", o.sampling.temperature, o.sampling.top_k,
               sample.recurrent ? "recurrent" : "full-recompute", printable(prompt), printable(sample.text));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.session.budget = text_budget();
  o.session.checkpoint = "runs/text.safetensors";
  CLI::App app{"Train a byte-level Performer language model on a text file and sample from it."};
  app.add_option("--data", o.data, "text file, plain or gzip, or 'kjv' for the King James Bible (Debian bible-kjv)")
      ->capture_default_str();
  bool iid = false;
  add_model_flags(app, o.model, iid);
  app.add_option("--context", o.model.context, "training window (tokens)")->check(non_negative())->capture_default_str();
  app.add_option("--batch", o.batch, "sequences per step, over all ranks (each of N ranks computes batch / N)")
      ->check(non_negative())->capture_default_str();
  add_session_flags(app, o.session);
  app.add_option("--eval-every", o.session.budget.eval_every_steps, "validation every N steps (0: only at the end)")->check(non_negative())->capture_default_str();
  app.add_option("--eval-tokens", o.eval_tokens, "size of the fixed held-out slice (tokens)")->check(non_negative())->capture_default_str();
  app.add_option("--prompt", o.prompt,
                 "prompt of the sample printed at the end (default: the first line of the held-out text, up to 64 "
                 "bytes; saved in the checkpoint for sample_text)");
  app.add_option("--sample-length", o.sampling.length, "bytes to sample at the end (0: none)")->capture_default_str();
  app.add_option("--temperature", o.sampling.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", o.sampling.top_k, "sample from the k most likely bytes (0: all)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  apply_model_flags(o.model, iid);
  return run_program("train_text", [&] { return run(o); });
}
