// train_protein: the Performer paper's protein task in small, on the UniProt sample of Debian's
// mmseqs2-examples (or any FASTA file): sequences cropped to a fixed length, held out by whole
// sequence, and either
//   --task masked   masked-token prediction (bidirectional, 15% of the residues), or
//   --task causal   next-token prediction (causal),
// reporting held-out accuracy and perplexity. Run it once per attention kernel, same size and
// time, to compare exact softmax attention with FAVOR+:
//   train_protein --task masked --attention favor-positive --minutes 5
//   train_protein --task masked --attention exact --minutes 5
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/kernels/gemm.hpp"
#include "engine/core/memory.hpp"
#include "engine/optim/optimizers.hpp"
#include "fasta.hpp"
#include "model_flags.hpp"
#include "models/performer_lm.hpp"
#include "training_loop.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::examples;

namespace {

struct Options {
  std::string task = "masked";
  std::string data = kDefaultFasta;
  std::size_t length = 256;
  double held_out = 0.05;
  double mask_rate = 0.15;
  PerformerConfig model;
  std::size_t batch = 16;
  TrainingBudget budget;
  double weight_decay = 0.01;
  int threads = 2;
  std::string checkpoint;
  bool resume = false;
  std::string log;
  std::size_t eval_sequences = 500;
};

// One batch: model inputs, targets (-100 = not scored) and the key padding mask [B, L].
struct ProteinBatch {
  Indices inputs, targets;
  Mask padding;
};

// masked: a crop of the sequence (<bos> s <eos>), some residues masked, padding masked out of
// attention; causal: a crop of L+1 tokens, inputs the first L, targets the last L (pads unscored).
ProteinBatch make_batch(const std::vector<const std::string*>& sequences, const Options& o, Rng* crop_rng,
                        Rng& mask_rng) {
  const std::size_t B = sequences.size(), L = o.length;
  const bool masked = o.task == "masked";
  Indices tokens = Indices::from_shape({B, L});
  ProteinBatch batch{Indices(), Indices::from_shape({B, L}), Mask::from_shape({B, L})};
  Indices causal_inputs = Indices::from_shape({B, L});
  for (std::size_t b = 0; b < B; ++b) {
    const auto ids = ProteinVocab::encode(*sequences[b], true, true);
    const auto crop = crop_tokens(ids, masked ? L : L + 1, crop_rng);
    for (std::size_t l = 0; l < L; ++l) {
      if (masked) {
        tokens(b, l) = crop[l];
      } else {
        causal_inputs(b, l) = crop[l];
        batch.targets(b, l) = crop[l + 1] == ProteinVocab::kPad ? -100 : crop[l + 1];
      }
      batch.padding(b, l) = crop[l] == ProteinVocab::kPad;
    }
  }
  if (masked) {
    MaskedTokens m = mask_tokens(tokens, o.mask_rate, mask_rng);
    batch.inputs = std::move(m.inputs);
    batch.targets = std::move(m.targets);
  } else {
    batch.inputs = std::move(causal_inputs);
  }
  return batch;
}

struct HeldOutScore {
  double accuracy = 0, perplexity = 0, nll = 0;
  std::size_t tokens = 0;
};

// Accuracy and perplexity over the scored tokens of fixed held-out batches (first crops,
// masking from a fixed seed, so every evaluation sees the same problems).
HeldOutScore evaluate(PerformerLM<float>& model, const std::vector<ProteinBatch>& batches, bool use_padding) {
  NoGradGuard no_grad;
  double nll = 0;
  std::size_t correct = 0, count = 0;
  for (const ProteinBatch& batch : batches) {
    const Tensor<float> logits = model.forward(batch.inputs, use_padding ? &batch.padding : nullptr);
    const std::size_t V = logits.size(2);
    for (std::size_t i = 0; i < batch.targets.size(); ++i) {
      const std::int64_t target = batch.targets.data()[i];
      if (target < 0) continue;
      const float* row = logits.data() + i * V;
      const std::size_t guess = std::max_element(row, row + V) - row;
      double sum = 0;
      for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v] - row[guess]));
      nll += std::log(sum) - double(row[target] - row[guess]);
      correct += guess == std::size_t(target);
      ++count;
    }
  }
  HeldOutScore s;
  s.tokens = count;
  s.nll = count ? nll / double(count) : NAN;
  s.accuracy = count ? double(correct) / double(count) : NAN;
  s.perplexity = std::exp(s.nll);
  return s;
}


int run(Options o) {
  tune_malloc_for_reuse();
  set_num_threads(o.threads);
  const bool masked = o.task == "masked";
  if (!masked && o.task != "causal")
    throw std::invalid_argument(fmt::format("--task must be masked or causal, got '{}'", o.task));
  if (o.length < 2) throw std::invalid_argument(fmt::format("--length must be at least 2, got {}", o.length));
  if (o.batch == 0) throw std::invalid_argument("--batch must be positive");
  if (o.checkpoint.empty()) o.checkpoint = fmt::format("runs/protein_{}_{}.safetensors", o.task, o.model.attention);

  const auto records = read_fasta(o.data);
  const SequenceSplit split = split_by_sequence(records, o.held_out, 1234);
  RunState run;
  if (o.resume) {
    run = peek_run_to_resume(o.checkpoint);
    o.model = PerformerConfig::from_json(run.config_json);
  }
  o.model.vocab = ProteinVocab::kSize;
  o.model.context = o.length;
  o.model.causal = !masked;
  o.model.tie_embeddings = true;
  o.model.validate();
  PerformerLM<float> model(o.model);
  AdamOptions adam;
  adam.lr = o.budget.lr;
  adam.weight_decay = o.weight_decay;
  AdamW<float> optimizer(model.named_parameters(), adam);
  Rng data_rng(o.model.seed * 31 + 17);
  if (o.resume) {
    run = resume_run(o.checkpoint, model, optimizer, data_rng);
  }
  if (auto dir = std::filesystem::path(o.checkpoint).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
  const std::string log_path =
      !o.log.empty() ? o.log : std::filesystem::path(o.checkpoint).replace_extension(".jsonl").string();
  JsonlLog log(log_path, o.resume);

  // the fixed held-out problems
  std::vector<ProteinBatch> held_out;
  Rng eval_mask_rng(99);
  const std::size_t n_eval = std::min(o.eval_sequences, split.held_out.size());
  for (std::size_t begin = 0; begin < n_eval; begin += o.batch) {
    std::vector<const std::string*> sequences;
    for (std::size_t i = begin; i < std::min(n_eval, begin + o.batch); ++i) sequences.push_back(&split.held_out[i]);
    held_out.push_back(make_batch(sequences, o, nullptr, eval_mask_rng));
  }

  fmt::print("data: {} ({} records, {} duplicates removed, {} train / {} held-out sequences); task {}, crops of {} "
             "tokens; model: {} parameters, {} layers, width {}, {} heads, attention {} (m = {}), batch {}, {} threads\n",
             o.data, records.size(), split.duplicates_removed, split.train.size(), split.held_out.size(), o.task,
             o.length, model.parameter_count(), o.model.depth, o.model.width, o.model.heads, o.model.attention,
             o.model.features, o.batch, o.threads);

  HeldOutScore last;
  TrainingHooks<float> hooks;
  hooks.next_loss = [&] {
    std::vector<const std::string*> sequences(o.batch);
    for (auto& s : sequences) s = &split.train[data_rng.below(split.train.size())];
    const ProteinBatch batch = make_batch(sequences, o, &data_rng, data_rng);
    return std::make_pair(model.loss(batch.inputs, batch.targets, -100, masked ? &batch.padding : nullptr),
                          double(o.batch * o.length));
  };
  hooks.evaluate = [&] {
    last = evaluate(model, held_out, masked);
    fmt::print("  held-out accuracy {:.2f}%, perplexity {:.3f} ({} {} tokens of {} sequences)\n", 100 * last.accuracy,
               last.perplexity, last.tokens, masked ? "masked" : "next", n_eval);
    log.write("eval", {{"step", double(run.step)}, {"heldout_accuracy", last.accuracy},
                       {"heldout_perplexity", last.perplexity}, {"elapsed_s", run.elapsed_seconds}});
  };
  hooks.save = [&] {
    run.data_rng = data_rng.state();
    run.config_json = o.model.to_json();
    save_run(o.checkpoint, model, optimizer, run, {{"protein.task", o.task}, {"protein.length", std::to_string(o.length)}});
  };
  const TrainingSummary summary = train_for_budget(model, optimizer, run, o.budget, hooks, log);
  fmt::print("trained {} steps in {} ({:.0f} tokens/s); held-out accuracy {:.2f}%, perplexity {:.3f} ({}, {})\n",
             run.step, format_duration(run.elapsed_seconds), summary.units_per_second, 100 * last.accuracy,
             last.perplexity, o.task, o.model.attention);
  print_run_footer(summary, o.checkpoint, log_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.model.width = 128;
  o.model.depth = 2;
  o.model.heads = 4;
  o.model.ff_hidden = 256;
  o.model.features = 64;
  o.budget.minutes = 5;
  o.budget.lr = 1e-3;
  o.budget.min_lr = 1e-4;
  o.budget.warmup = 100;
  CLI::App app{"Train a Performer on protein sequences: masked-token or next-token prediction."};
  app.add_option("--task", o.task, "masked (bidirectional, 15% masking) | causal (next token)")->capture_default_str();
  app.add_option("--data", o.data, "FASTA file, plain or .gz (default: Debian mmseqs2-examples)")->capture_default_str();
  app.add_option("--length", o.length, "crop length (tokens)")->capture_default_str();
  app.add_option("--held-out", o.held_out, "fraction of distinct sequences held out")->capture_default_str();
  app.add_option("--mask-rate", o.mask_rate, "masked: fraction of residues to predict")->capture_default_str();
  app.add_option("--eval-sequences", o.eval_sequences, "held-out sequences evaluated")->capture_default_str();
  bool iid = false;
  add_model_flags(app, o.model, iid);
  app.add_option("--batch", o.batch, "sequences per step")->capture_default_str();
  add_budget_flags(app, o.budget);
  app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--threads", o.threads, "threads (engine thread pool and OpenBLAS)")->capture_default_str();
  app.add_option("--checkpoint", o.checkpoint, "checkpoint file (default runs/protein_<task>_<attention>.safetensors)");
  app.add_flag("--resume", o.resume, "continue the run saved in --checkpoint");
  app.add_option("--log", o.log, "JSON-lines curve (default: checkpoint path with .jsonl)");
  CLI11_PARSE(app, argc, argv);
  apply_model_flags(o.model, iid);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "train_protein: error: {}\n", e.what());
    return 1;
  }
}
