// train_text: train a byte-level Performer language model on a text file (default: the King
// James Bible from Debian's bible-kjv), report validation bits per character on a fixed held-out
// slice, save resumable checkpoints, and print a sample generated in RNN mode.
//
//   train_text                          # defaults: 4 layers, width 128, FAVOR+, 3 minutes
//   train_text --minutes 30 --checkpoint runs/kjv.safetensors
//   train_text --resume --checkpoint runs/kjv.safetensors
//   train_text --attention exact        # the same model with exact softmax attention
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/blas.hpp"
#include "engine/memory.hpp"
#include "engine/optim.hpp"
#include "engine/schedule.hpp"
#include "models/performer_lm.hpp"
#include "model_flags.hpp"
#include "progress.hpp"
#include "text_corpus.hpp"
#include "text_sampling.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::examples;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string data = kDefaultCorpus;
  PerformerConfig model;
  std::size_t batch = 16;
  std::int64_t steps = 0;       // 0: bounded by --minutes
  double minutes = 3;
  double lr = 2e-3, min_lr = 1e-4, weight_decay = 0.01, clip = 1.0;
  std::int64_t warmup = 100;
  int threads = 2;
  std::string checkpoint = "runs/text.safetensors";
  std::int64_t checkpoint_every = 500;
  bool resume = false;
  std::int64_t eval_every = 250;
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

std::string mib(double bytes) { return fmt::format("{:.0f} MiB", bytes / (1 << 20)); }

int run(Options o) {
  tune_malloc_for_reuse();
  set_num_threads(o.threads);
  const TextCorpus corpus = load_text_corpus(o.data);

  RunState run;
  if (o.resume) {
    if (!std::filesystem::exists(o.checkpoint))
      throw std::runtime_error(fmt::format("--resume: checkpoint '{}' does not exist", o.checkpoint));
    run = peek_run(o.checkpoint);
    o.model = PerformerConfig::from_json(run.config_json);  // the checkpoint's model wins
  }
  o.model.causal = true;
  o.model.vocab = 256;
  o.model.validate();
  if (o.batch == 0) throw std::invalid_argument("--batch must be positive");
  if (o.warmup < 0 || o.steps < 0 || !(o.minutes > 0) || !(o.lr > 0) || o.min_lr < 0 || o.min_lr > o.lr)
    throw std::invalid_argument(fmt::format("bad schedule flags: --warmup {} --steps {} --minutes {} --lr {} --min-lr {} "
                                            "(need warmup >= 0, steps >= 0, minutes > 0, 0 <= min-lr <= lr)",
                                            o.warmup, o.steps, o.minutes, o.lr, o.min_lr));

  PerformerLM<float> model(o.model);
  AdamOptions adam;
  adam.lr = o.lr;
  adam.weight_decay = o.weight_decay;
  AdamW<float> optimizer(model.named_parameters(), adam);
  Rng data_rng(o.model.seed * 31 + 17);
  if (o.resume) {
    run = load_run(o.checkpoint, model, optimizer);
    data_rng.set_state(run.data_rng);
    model.stack().set_dropout_states(run.dropout_rngs);
    fmt::print("resumed {} at step {} ({} trained)\n", o.checkpoint, run.step, format_duration(run.elapsed_seconds));
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

  const double budget = o.steps > 0 ? 0 : o.minutes * 60;
  std::int64_t total_steps = run.total_steps > 0 ? run.total_steps : o.steps;
  ProgressReporter progress(static_cast<std::size_t>(total_steps), budget, 50);
  double loss_ema = NAN;
  double step_seconds_sum = 0;
  std::int64_t step_seconds_count = 0;
  const double elapsed_at_start = run.elapsed_seconds;
  std::size_t fresh_after_warmup = 0, fresh_at_warmup = 0;

  auto save = [&] {
    run.data_rng = data_rng.state();
    run.dropout_rngs = model.stack().dropout_states();
    run.config_json = o.model.to_json();
    save_run(o.checkpoint, model, optimizer, run);
  };
  auto evaluate = [&] {
    const double bpc = validation_bits_per_char(model, validation);
    progress.message(fmt::format("step {}: validation {:.4f} bits/char ({} trained)", run.step, bpc,
                                 format_duration(run.elapsed_seconds)));
    log.write("eval", {{"step", double(run.step)}, {"val_bpc", bpc}, {"elapsed_s", run.elapsed_seconds}});
    return bpc;
  };

  while (true) {
    if (o.steps > 0 && run.step >= o.steps) break;
    if (o.steps == 0 && run.elapsed_seconds - elapsed_at_start >= budget && run.step > 0) break;
    const auto t0 = Clock::now();
    const TokenBatch batch = random_windows(corpus.train, B, T, data_rng);
    // A time-bounded run fixes its schedule length once the step time is known (after 5 steps),
    // and stores it, so a resumed run follows the same schedule.
    if (total_steps == 0 && step_seconds_count >= 5)
      total_steps = std::max<std::int64_t>(run.step + 1, run.step + std::int64_t((budget - (run.elapsed_seconds - elapsed_at_start)) /
                                                                                  (step_seconds_sum / step_seconds_count)));
    run.total_steps = total_steps;
    // Until a time-bounded run knows its length, it follows the warm-up ramp.
    const double lr = total_steps > 0
                          ? WarmupCosineLr(o.lr, std::min(o.warmup, total_steps), total_steps, o.min_lr).lr_at(run.step)
                          : o.lr * double(run.step + 1) / double(std::max<std::int64_t>(o.warmup, 1));
    optimizer.set_lr(lr);
    Tensor<float> loss = model.loss(batch.inputs, batch.targets);
    const double value = loss.item();
    if (!std::isfinite(value)) {
      progress.finish();
      throw std::runtime_error(fmt::format(
          "the loss became {} at step {}: stopping. The last good checkpoint is '{}' (try a lower --lr or --clip)", value,
          run.step, o.checkpoint));
    }
    loss.backward();
    clip_grad_norm(model.named_parameters(), o.clip);
    optimizer.step();
    optimizer.zero_grad();
    ++run.step;
    run.tokens_seen += double(B * T);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    run.elapsed_seconds += dt;
    step_seconds_sum += dt;
    ++step_seconds_count;
    if (step_seconds_count == 3) fresh_at_warmup = memory_stats().fresh_bytes;
    if (step_seconds_count > 3) fresh_after_warmup = memory_stats().fresh_bytes - fresh_at_warmup;
    loss_ema = std::isnan(loss_ema) ? value : 0.95 * loss_ema + 0.05 * value;
    const double tokens_per_second = double(B * T) / dt;
    progress.update(static_cast<std::size_t>(run.step), loss_ema, tokens_per_second, run.elapsed_seconds - elapsed_at_start);
    log.write("train", {{"step", double(run.step)}, {"loss", value}, {"lr", lr}, {"tokens_per_s", tokens_per_second},
                        {"elapsed_s", run.elapsed_seconds}});
    if (o.eval_every > 0 && run.step % o.eval_every == 0) evaluate();
    if (o.checkpoint_every > 0 && run.step % o.checkpoint_every == 0) save();
  }
  progress.finish();
  const double bpc = evaluate();
  save();
  const double trained = run.elapsed_seconds - elapsed_at_start;
  fmt::print("trained {} steps in {} ({:.0f} tokens/s); validation {:.4f} bits/char on {} held-out bytes\n",
             run.step, format_duration(run.elapsed_seconds), double(step_seconds_count * B * T) / trained, bpc,
             validation.size() * B * T);
  fmt::print("memory: peak RSS {}, tensors peak {}; a training step after warm-up took {} bytes of fresh memory\n",
             mib(double(peak_rss_bytes())), mib(double(memory_stats().peak_live_bytes)), fresh_after_warmup);
  fmt::print("checkpoint: {} (curve: {})\n", o.checkpoint, log_path);

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
  app.add_option("--steps", o.steps, "training steps (0: train for --minutes)")->capture_default_str();
  app.add_option("--minutes", o.minutes, "training time when --steps is 0")->capture_default_str();
  app.add_option("--lr", o.lr, "peak learning rate (AdamW)")->capture_default_str();
  app.add_option("--min-lr", o.min_lr, "learning rate at the end of the cosine decay")->capture_default_str();
  app.add_option("--warmup", o.warmup, "linear warm-up steps")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--clip", o.clip, "clip the global gradient norm to this")->capture_default_str();
  app.add_option("--threads", o.threads, "BLAS threads")->capture_default_str();
  app.add_option("--checkpoint", o.checkpoint, "checkpoint file (safetensors)")->capture_default_str();
  app.add_option("--checkpoint-every", o.checkpoint_every, "save every N steps (0: only at the end)")->capture_default_str();
  app.add_flag("--resume", o.resume, "continue the run saved in --checkpoint");
  app.add_option("--eval-every", o.eval_every, "validation every N steps (0: only at the end)")->capture_default_str();
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
