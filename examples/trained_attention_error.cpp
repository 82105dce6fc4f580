// trained_attention_error: how far a trained FAVOR model's attention is from exact softmax
// attention with the model's own queries, keys and values, per layer, on held-out input, before
// and after redrawing its random projections (examples/common/trained_attention_error.hpp).
// Reads checkpoints of train_text (held-out windows of its text) and train_protein (held-out
// crops of its FASTA file, masked as in its evaluation for the masked task).
//
//   trained_attention_error --checkpoint runs/text.safetensors
//   trained_attention_error --checkpoint runs/protein_masked_favor-positive.safetensors --out err.jsonl
//
// One JSON object per layer on stdout (and appended to --out), tagged with --label.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/io/finite.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/optim/optimizers.hpp"
#include "fasta.hpp"
#include "models/performer_lm.hpp"
#include "text_corpus.hpp"
#include "trained_attention_error.hpp"
#include "training_run.hpp"
#include "training_session.hpp"  // run_program

using namespace pf;
using namespace pf::examples;

namespace {

struct Options {
  std::string checkpoint;
  std::string data;            // default: the data the checkpoint was trained on
  std::string label;           // default: the checkpoint's file name
  std::string out;             // JSON lines appended here too
  std::size_t batch = 8, batches = 4;
  double held_out = 0.05;      // train_protein's --held-out
  int threads = 1;
  bool allow_non_finite = false;
};

struct HeldOutBatch {
  Indices inputs;
  Mask padding;
  bool use_padding = false;
};

std::string metadata_or(const Metadata& m, const std::string& key, const std::string& fallback) {
  const auto it = m.find(key);
  return it == m.end() ? fallback : it->second;
}

std::vector<HeldOutBatch> text_batches(const Options& o, const Metadata& m, const PerformerConfig& c) {
  const TextCorpus corpus = load_text_corpus(o.data.empty() ? metadata_or(m, "text.data", kDefaultCorpus) : o.data);
  std::vector<HeldOutBatch> out;
  for (TokenBatch& b : fixed_windows(corpus.validation, o.batch, c.context, o.batch * o.batches * c.context))
    out.push_back({std::move(b.inputs), Mask(), false});
  return out;
}

// The first crops of the first held-out sequences, masked as train_protein's evaluation masks them.
std::vector<HeldOutBatch> protein_batches(const Options& o, const Metadata& m, const PerformerConfig& c) {
  const std::string path = o.data.empty() ? kDefaultFasta : o.data;
  const SequenceSplit split = split_by_sequence(read_fasta(path), o.held_out, 1234);
  const bool masked = metadata_or(m, "protein.task", "masked") == "masked";
  const std::size_t L = c.context;
  Rng mask_rng(99);
  std::vector<HeldOutBatch> out;
  for (std::size_t begin = 0; begin < split.held_out.size() && out.size() < o.batches; begin += o.batch) {
    const std::size_t B = std::min(o.batch, split.held_out.size() - begin);
    Indices tokens = Indices::from_shape({B, L});
    Mask padding = Mask::from_shape({B, L});
    for (std::size_t b = 0; b < B; ++b) {
      const auto crop = crop_tokens(ProteinVocab::encode(split.held_out[begin + b], true, true), L, nullptr);
      for (std::size_t l = 0; l < L; ++l) {
        tokens(b, l) = crop[l];
        padding(b, l) = crop[l] == ProteinVocab::kPad;
      }
    }
    if (masked) tokens = mask_tokens(tokens, 0.15, mask_rng).inputs;
    out.push_back({std::move(tokens), std::move(padding), masked});
  }
  return out;
}

int run(const Options& o) {
  if (o.threads < 0) throw std::invalid_argument(fmt::format("--threads must be >= 0, got {}", o.threads));
  set_num_threads(o.threads > 0 ? o.threads : usable_cpus());
  allow_non_finite(o.allow_non_finite);
  if (!std::filesystem::exists(o.checkpoint))
    throw std::runtime_error(fmt::format("--checkpoint '{}' does not exist", o.checkpoint));
  if (o.batch == 0 || o.batches == 0) throw std::invalid_argument("--batch and --batches must be positive");
  const RunState run = peek_run(o.checkpoint);
  const Metadata metadata = load_safetensors(o.checkpoint).metadata;
  const PerformerConfig config = PerformerConfig::from_json(run.config_json);
  if (config.attention == AttentionKernel::exact)
    throw std::invalid_argument(fmt::format("'{}' was trained with exact attention: there is no FAVOR approximation to "
                                            "measure (train with a FAVOR --attention)",
                                            o.checkpoint));
  const bool protein = metadata.count("protein.task") > 0;
  if (!protein && !(config.causal && config.vocab == 256))
    throw std::invalid_argument(fmt::format("'{}' is neither a train_text nor a train_protein checkpoint (vocabulary "
                                            "{}, {}); only those are supported",
                                            o.checkpoint, config.vocab, config.causal ? "causal" : "bidirectional"));
  PerformerLM<float> model(config);
  AdamW<float> optimizer(model.named_parameters());
  load_run(o.checkpoint, model, optimizer);
  const std::vector<HeldOutBatch> batches =
      protein ? protein_batches(o, metadata, config) : text_batches(o, metadata, config);
  if (batches.empty()) throw std::runtime_error("no held-out input to measure on");

  std::vector<LayerAttentionError> errors;
  std::size_t rows = 0;
  for (const HeldOutBatch& b : batches) {
    add_attention_errors(model.stack(), b.inputs, b.use_padding ? &b.padding : nullptr, errors);
    rows += b.inputs.shape()[0];
  }
  const std::string label = o.label.empty() ? std::filesystem::path(o.checkpoint).stem().string() : o.label;
  std::ofstream out;
  if (!o.out.empty()) {
    out.open(o.out, std::ios::app);
    if (!out) throw std::runtime_error(fmt::format("cannot write '{}'", o.out));
  }
  const auto number = [](double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string("null"); };
  for (const LayerAttentionError& e : errors) {
    const std::string line = fmt::format(
        "{{\"label\":\"{}\",\"task\":\"{}\",\"attention\":\"{}\",\"features\":{},\"orthogonal\":{},\"redraw\":{},"
        "\"step\":{},\"layer\":{},\"sequences\":{},\"length\":{},\"rel_error\":{},\"rel_error_after_redraw\":{}}}",
        label, protein ? "protein_" + metadata.at("protein.task") : std::string("text"), name_of(config.attention),
        config.features, config.orthogonal, config.redraw_interval, run.step, e.layer, rows, config.context,
        number(e.before()), number(e.after()));
    fmt::print("{}\n", line);
    if (out.is_open()) out << line << '\n';
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Per layer, a trained FAVOR model's attention output against exact softmax attention with its own "
               "queries and keys, before and after a redraw of its random features."};
  app.add_option("--checkpoint", o.checkpoint, "a train_text or train_protein checkpoint")->required();
  app.add_option("--data", o.data, "held-out data (default: the checkpoint's text, or Debian's mmseqs2-examples FASTA)");
  app.add_option("--label", o.label, "label of the JSON lines (default: the checkpoint's file name)");
  app.add_option("--out", o.out, "append the JSON lines to this file too");
  app.add_option("--batch", o.batch, "held-out sequences per batch")->capture_default_str();
  app.add_option("--batches", o.batches, "held-out batches")->capture_default_str();
  app.add_option("--held-out", o.held_out, "train_protein's held-out fraction (the split must match)")->capture_default_str();
  app.add_option("--threads", o.threads, "threads (0: all cores)")->capture_default_str();
  app.add_flag("--allow-non-finite", o.allow_non_finite, "load a checkpoint holding NaN or Inf");
  CLI11_PARSE(app, argc, argv);
  return run_program("trained_attention_error", [&] { return run(o); });
}
