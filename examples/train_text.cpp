// train_text: train a byte-level Performer language model on a text file (default: the King
// James Bible from Debian's bible-kjv), report validation bits per character on a fixed held-out
// slice, save resumable checkpoints, and print a sample generated in RNN mode.
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

#include "engine/kernels/gemm.hpp"
#include "engine/core/memory.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/optim/schedule.hpp"
#include "models/performer_lm.hpp"
#include "model_flags.hpp"
#include "progress.hpp"
#include "text_corpus.hpp"
#include "text_sampling.hpp"
#include "training_loop.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::examples;

namespace {

// train_text's schedule: 3 minutes (steps 0), validation every 250 steps, a save every 500.
TrainingBudget text_budget() {
  TrainingBudget b;
  b.steps = 0;
  b.minutes = 3;
  b.lr = 2e-3;
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
  std::size_t batch = 16;
  TrainingBudget budget = text_budget();
  double weight_decay = 0.01;
  int threads = 2;
  std::string checkpoint = "runs/text.safetensors";
  bool resume = false;
  std::size_t eval_tokens = 1 << 17;
  std::string log = "";         // JSONL curve; default: checkpoint path with .jsonl
  std::string prompt = "And God said";
  SamplingOptions sampling;
  std::uint64_t sample_seed = 7;
};

// Mean bits per character of the model on fixed held-out windows.
double validation_bits_per_char(PerformerLM<float>& model, const std::vector<TokenBatch>& batches) {
  NoGradGuard no_grad;
  model.eval();
  double nats = 0, count = 0;
  for (const TokenBatch& b : batches) {
    const double n = static_cast<double>(b.targets.size());
    nats += model.loss(b.inputs, b.targets).item() * n;
    count += n;
  }
  model.train();
  return nats / count / std::log(2.0);
}


int run(Options o) {
  tune_malloc_for_reuse();
  set_num_threads(o.threads);
  const TextCorpus corpus = load_text_corpus(o.data);

  RunState run;
  if (o.resume) {
    run = peek_run_to_resume(o.checkpoint);
    o.model = PerformerConfig::from_json(run.config_json);  // the checkpoint's model wins
  }
  o.model.causal = true;
  o.model.vocab = 256;
  o.model.validate();
  if (o.batch == 0) throw std::invalid_argument("--batch must be positive");
  const TrainingBudget& b = o.budget;
  if (b.warmup < 0 || b.steps < 0 || !(b.minutes > 0) || !(b.lr > 0) || b.min_lr < 0 || b.min_lr > b.lr)
    throw std::invalid_argument(fmt::format("bad schedule flags: --warmup {} --steps {} --minutes {} --lr {} --min-lr {} "
                                            "(need warmup >= 0, steps >= 0, minutes > 0, 0 <= min-lr <= lr)",
                                            b.warmup, b.steps, b.minutes, b.lr, b.min_lr));

  PerformerLM<float> model(o.model);
  AdamOptions adam;
  adam.lr = b.lr;
  adam.weight_decay = o.weight_decay;
  AdamW<float> optimizer(model.named_parameters(), adam);
  Rng data_rng(o.model.seed * 31 + 17);
  if (o.resume) {
    run = resume_run(o.checkpoint, model, optimizer, data_rng);
  }
  const std::string log_path = !o.log.empty() ? o.log : std::filesystem::path(o.checkpoint).replace_extension(".jsonl").string();
  if (auto dir = std::filesystem::path(o.checkpoint).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
  JsonlLog log(log_path, o.resume);

  const std::size_t T = o.model.context, B = o.batch;
  const std::vector<TokenBatch> validation = fixed_windows(corpus.validation, B, T, o.eval_tokens);
  fmt::print("data: {} ({} train / {} held-out bytes); model: {} parameters, {} layers, width {}, {} heads, attention {} "
             "(m = {}), context {}, batch {}, {} threads\n",
             corpus.source, corpus.train.size(), corpus.validation.size(), model.parameter_count(), o.model.depth,
             o.model.width, o.model.heads, o.model.attention, o.model.features, T, B, o.threads);

  auto save = [&] {
    run.data_rng = data_rng.state();
    run.config_json = o.model.to_json();
    save_run(o.checkpoint, model, optimizer, run);
  };
  double bpc = NAN;
  TrainingHooks<float> hooks;
  hooks.next_loss = [&] {
    const TokenBatch batch = random_windows(corpus.train, B, T, data_rng);
    return std::make_pair(model.loss(batch.inputs, batch.targets), double(B * T));
  };
  hooks.evaluate_line = [&] {
    bpc = validation_bits_per_char(model, validation);
    log.write("eval", {{"step", double(run.step)}, {"val_bpc", bpc}, {"elapsed_s", run.elapsed_seconds}});
    return fmt::format("step {}: validation {:.4f} bits/char ({} trained)", run.step, bpc, format_duration(run.elapsed_seconds));
  };
  hooks.save = save;
  hooks.rate_key = "tokens_per_s";
  hooks.checkpoint_path = o.checkpoint;
  const TrainingSummary summary = train_for_budget(model, optimizer, run, o.budget, hooks, log);
  fmt::print("trained {} steps in {} ({:.0f} tokens/s); validation {:.4f} bits/char on {} held-out bytes\n",
             run.step, format_duration(run.elapsed_seconds), summary.units_per_second, bpc,
             validation.size() * B * T);
  print_run_footer(summary, o.checkpoint, log_path);

  if (o.sampling.length > 0) {
    Rng rng(o.sample_seed);
    const SamplingResult sample = generate_text(model, o.prompt, o.sampling, rng);
    fmt::print("\nsample (temperature {}, top-k {}, {} mode):\n{}{}\n", o.sampling.temperature, o.sampling.top_k,
               sample.recurrent ? "recurrent" : "full-recompute", printable(o.prompt), printable(sample.text));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Train a byte-level Performer language model on a text file and sample from it."};
  app.add_option("--data", o.data, "text file, or 'kjv' for the King James Bible (Debian bible-kjv)")->capture_default_str();
  bool iid = false;
  add_model_flags(app, o.model, iid);
  app.add_option("--context", o.model.context, "training window (tokens)")->capture_default_str();
  app.add_option("--batch", o.batch, "sequences per step")->capture_default_str();
  app.add_option("--steps", o.budget.steps, "training steps (0: train for --minutes)")->capture_default_str();
  app.add_option("--minutes", o.budget.minutes, "training time when --steps is 0")->capture_default_str();
  app.add_option("--lr", o.budget.lr, "peak learning rate (AdamW)")->capture_default_str();
  app.add_option("--min-lr", o.budget.min_lr, "learning rate at the end of the cosine decay")->capture_default_str();
  app.add_option("--warmup", o.budget.warmup, "linear warm-up steps")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--clip", o.budget.clip, "clip the global gradient norm to this")->capture_default_str();
  app.add_option("--threads", o.threads, "threads (engine thread pool and OpenBLAS)")->capture_default_str();
  app.add_option("--checkpoint", o.checkpoint, "checkpoint file (safetensors)")->capture_default_str();
  app.add_option("--checkpoint-every", o.budget.checkpoint_every, "save every N steps (0: only at the end)")->capture_default_str();
  app.add_flag("--resume", o.resume, "continue the run saved in --checkpoint");
  app.add_option("--eval-every", o.budget.eval_every_steps, "validation every N steps (0: only at the end)")->capture_default_str();
  app.add_option("--eval-tokens", o.eval_tokens, "size of the fixed held-out slice (tokens)")->capture_default_str();
  app.add_option("--log", o.log, "JSON-lines curve (default: checkpoint path with .jsonl)");
  app.add_option("--prompt", o.prompt, "prompt of the sample printed at the end")->capture_default_str();
  app.add_option("--sample-length", o.sampling.length, "bytes to sample at the end (0: none)")->capture_default_str();
  app.add_option("--temperature", o.sampling.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", o.sampling.top_k, "sample from the k most likely bytes (0: all)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  apply_model_flags(o.model, iid);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "train_text: error: {}\n", e.what());
    return 1;
  }
}
