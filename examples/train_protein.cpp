// train_protein: the Performer paper's protein task in small, on the UniProt sample of Debian's
// mmseqs2-examples (or any FASTA file): sequences cropped to a fixed length, held out by whole
// sequence, and either
//   --task masked   masked-token prediction (bidirectional, 15% of the residues), or
//   --task causal   next-token prediction (causal),
// reporting held-out accuracy and perplexity. Run it once per attention kernel, same size and
// time, to compare exact softmax attention with FAVOR+, Linformer (masked task only) and
// Reformer-style LSH attention:
//   train_protein --task masked --attention favor-positive --minutes 5
//   train_protein --task masked --attention exact --minutes 5
//   train_protein --task masked --attention linformer --linformer-k 64 --minutes 5
//   train_protein --task masked --attention reformer --lsh-buckets 8 --lsh-rounds 2 --lsh-chunk 32 --minutes 5
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/ops/elementwise.hpp"
#include "fasta.hpp"
#include "model_flags.hpp"
#include "models/performer_flops.hpp"
#include "models/performer_lm.hpp"
#include "training_session.hpp"

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
  std::size_t batch = 16;  // the global batch: under mpirun each rank computes batch / ranks rows
  SessionFlags session;
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
// masking from a fixed seed, so every evaluation sees the same problems); each rank scores its
// share of the batches and the totals are summed over the ranks.
HeldOutScore evaluate(PerformerLM<float>& model, const std::vector<ProteinBatch>& batches, bool use_padding,
                      const TrainingSession& session) {
  NoGradGuard no_grad;
  std::vector<double> totals = {0, 0, 0};  // nll, correct, count
  const Shard mine = session.share_of(batches.size());
  for (std::size_t b = mine.begin; b < mine.begin + mine.count; ++b) {
    const ProteinBatch& batch = batches[b];
    const Tensor<float> logits = model.forward(batch.inputs, use_padding ? &batch.padding : nullptr);
    const std::size_t V = logits.size(2);
    for (std::size_t i = 0; i < batch.targets.size(); ++i) {
      const std::int64_t target = batch.targets.data()[i];
      if (target < 0) continue;
      const float* row = logits.data() + i * V;
      const std::size_t guess = std::max_element(row, row + V) - row;
      double sum = 0;
      for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v] - row[guess]));
      totals[0] += std::log(sum) - double(row[target] - row[guess]);
      totals[1] += guess == std::size_t(target);
      totals[2] += 1;
    }
  }
  session.sum_over_ranks(totals);
  const double nll = totals[0], correct = totals[1];
  const std::size_t count = std::size_t(totals[2]);
  HeldOutScore s;
  s.tokens = count;
  s.nll = count ? nll / double(count) : NAN;
  s.accuracy = count ? correct / double(count) : NAN;
  s.perplexity = std::exp(s.nll);
  return s;
}


// The kernel's own settings, for the run's header line.
std::string kernel_settings(const PerformerConfig& c) {
  if (is_favor_kernel(c.attention)) return fmt::format(" (m = {})", c.features);
  if (c.attention == AttentionKernel::linformer) return fmt::format(" (k = {}, L_max = {})", c.linformer_k, c.context);
  if (c.attention == AttentionKernel::reformer)
    return fmt::format(" ({} buckets, {} rounds, chunk {})", c.lsh_buckets, c.lsh_rounds, c.lsh_chunk);
  return "";
}

// Scored targets (>= 0) in rows [begin, begin + count) of a [B, L] target batch.
double scored_targets(const Indices& targets, const Shard& rows) {
  const std::size_t L = targets.shape()[1];
  double n = 0;
  for (std::size_t i = rows.begin * L; i < (rows.begin + rows.count) * L; ++i) n += targets.data()[i] >= 0;
  return n;
}

int run(Options o) {
  TrainingSession session("train_protein", o.session);
  const bool masked = o.task == "masked";
  if (!masked && o.task != "causal")
    throw std::invalid_argument(fmt::format("--task must be masked or causal, got '{}'", o.task));
  if (o.length < 2) throw std::invalid_argument(fmt::format("--length must be at least 2, got {}", o.length));
  session.check_batch(o.batch);

  const auto records = read_fasta(o.data);
  if (const std::string dna = nucleotide_warning(records, o.data); !dna.empty() && session.is_root())
    fmt::print(stderr, "train_protein: warning: {}\n", dna);
  const SequenceSplit split = split_by_sequence(records, o.held_out, 1234);
  session.adopt_resumed_config(o.model);
  o.model.vocab = ProteinVocab::kSize;
  o.model.context = o.length;
  o.model.causal = !masked;
  o.model.tie_embeddings = true;
  o.model.validate();
  PerformerLM<float> model(o.model);
  session.set_checkpoint_metadata({{"protein.task", o.task}, {"protein.length", std::to_string(o.length)}});
  session.start(model, o.model);

  // the fixed held-out problems
  std::vector<ProteinBatch> held_out;
  Rng eval_mask_rng(99);
  const std::size_t n_eval = std::min(o.eval_sequences, split.held_out.size());
  for (std::size_t begin = 0; begin < n_eval; begin += o.batch) {
    std::vector<const std::string*> sequences;
    for (std::size_t i = begin; i < std::min(n_eval, begin + o.batch); ++i) sequences.push_back(&split.held_out[i]);
    held_out.push_back(make_batch(sequences, o, nullptr, eval_mask_rng));
  }

  session.print("data: {} ({} records, {} duplicates removed, {} train / {} held-out sequences); task {}, crops of {} "
                "tokens; model: {} parameters, {} layers, width {}, {} heads, attention {}{}, batch {}, {} "
                "threads\n",
                o.data, records.size(), split.duplicates_removed, split.train.size(), split.held_out.size(), o.task,
                o.length, model.parameter_count(), o.model.depth, o.model.width, o.model.heads, o.model.attention,
                kernel_settings(o.model), o.batch, session.threads());

  const Shard rows = session.shard(o.batch);
  const double ranks = double(session.comm().size());
  HeldOutScore last;
  TrainingHooks<float> hooks;
  hooks.next_loss = [&] {
    // Every rank draws the global batch (the same stream as one process) and trains on its rows.
    std::vector<const std::string*> sequences(o.batch);
    Rng& data_rng = session.data_rng();
    for (auto& seq : sequences) seq = &split.train[data_rng.below(split.train.size())];
    const ProteinBatch batch = make_batch(sequences, o, &data_rng, data_rng);
    const Mask padding = take_rows(batch.padding, rows);
    Tensor<float> loss = model.loss(take_rows(batch.inputs, rows), take_rows(batch.targets, rows), -100,
                                    masked ? &padding : nullptr);
    // The loss is a mean over scored tokens, and ranks score different numbers of them: weigh
    // this rank's mean by its share, so that the mean over ranks is the global batch's mean.
    const double global = scored_targets(batch.targets, {0, o.batch}), local = scored_targets(batch.targets, rows);
    if (ranks > 1 && global > 0) loss = mul_scalar(loss, float(local * ranks / global));
    return std::make_pair(loss, double(rows.count * o.length));
  };
  hooks.evaluate = [&] {
    last = evaluate(model, held_out, masked, session);
    session.print("  held-out accuracy {:.2f}%, perplexity {:.3f} ({} {} tokens of {} sequences)\n", 100 * last.accuracy,
                  last.perplexity, last.tokens, masked ? "masked" : "next", n_eval);
    const RunState& run = session.run();
    session.log().write("eval", {{"step", double(run.step)}, {"heldout_accuracy", last.accuracy},
                                 {"heldout_perplexity", last.perplexity}, {"elapsed_s", run.elapsed_seconds}});
  };
  hooks.curve_metric = {"heldout_accuracy", "held-out accuracy (%)", 100};
  hooks.flops_per_unit = lm_flops_per_token(o.model).training();  // per sequence token, padding included
  const TrainingSummary summary = session.train(hooks);
  const RunState& run = session.run();
  session.print("trained {} steps in {} ({:.0f} tokens/s); held-out accuracy {:.2f}%, perplexity {:.3f} ({}, {})\n",
                run.step, format_duration(run.elapsed_seconds), summary.units_per_second, 100 * last.accuracy,
                last.perplexity, o.task, o.model.attention);
  session.print_footer(summary);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.model = sized_config(/*width*/ 128, /*depth*/ 2, /*heads*/ 4, /*ff*/ 256, /*m*/ 64);
  o.session.budget.minutes = 5;
  o.session.budget.lr = 1e-3;
  o.session.budget.min_lr = 1e-4;
  o.session.budget.warmup = 100;
  CLI::App app{"Train a Performer on protein sequences: masked-token or next-token prediction."};
  app.add_option("--task", o.task, "masked (bidirectional, 15% masking) | causal (next token)")->capture_default_str();
  app.add_option("--data", o.data, "FASTA file, plain or .gz (default: Debian mmseqs2-examples)")->capture_default_str();
  app.add_option("--length", o.length, "crop length (tokens)")->capture_default_str();
  app.add_option("--held-out", o.held_out, "fraction of distinct sequences held out")->capture_default_str();
  app.add_option("--mask-rate", o.mask_rate, "masked: fraction of residues to predict")->capture_default_str();
  app.add_option("--eval-sequences", o.eval_sequences, "held-out sequences evaluated")->capture_default_str();
  bool iid = false;
  add_model_flags(app, o.model, iid);
  app.add_option("--batch", o.batch, "sequences per step, over all ranks (each of N ranks computes batch / N)")
      ->capture_default_str();
  add_session_flags(app, o.session);
  app.get_option("--checkpoint")->description("checkpoint file (default runs/protein_<task>_<attention>.safetensors)");
  CLI11_PARSE(app, argc, argv);
  apply_model_flags(o.model, iid);
  if (o.session.checkpoint.empty())
    o.session.checkpoint = fmt::format("runs/protein_{}_{}.safetensors", o.task, o.model.attention);
  return run_program("train_protein", [&] { return run(o); });
}
