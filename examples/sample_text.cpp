// sample_text: generate text from a train_text checkpoint, by default continuing the prompt
// train_text used (taken from its corpus, stored in the checkpoint). Causal FAVOR models generate
// in RNN mode (constant time and memory per token); --timing shows the time per token as the
// generated text grows.
//
//   sample_text --checkpoint runs/text.safetensors --prompt "And Jesus said" --length 500
#include <algorithm>
#include <numeric>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/kernels/gemm.hpp"
#include "engine/core/memory.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/io/finite.hpp"
#include "models/performer_lm.hpp"
#include "text_sampling.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::examples;

namespace {

// The prompt for a run without --prompt: the one train_text stored (the start of a line of its
// held-out text), or a line break for checkpoints without one (older ones, binary corpora).
std::string checkpoint_prompt(const std::string& checkpoint) {
  const Metadata metadata = load_safetensors(checkpoint).metadata;
  const auto it = metadata.find("text.prompt");
  return it != metadata.end() && !it->second.empty() ? it->second : "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint = "runs/text.safetensors", prompt;
  SamplingOptions sampling;
  std::uint64_t seed = 7;
  int threads = 1;
  bool timing = false;
  CLI::App app{"Generate text from a train_text checkpoint."};
  app.add_option("--checkpoint", checkpoint, "checkpoint written by train_text")->capture_default_str();
  app.add_option("--prompt", prompt,
                 "text to continue (default: the prompt train_text used, from its corpus, stored in the checkpoint; "
                 "a line break if the checkpoint has none)");
  app.add_option("--length", sampling.length, "bytes to generate")->capture_default_str();
  app.add_option("--temperature", sampling.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", sampling.top_k, "sample from the k most likely bytes (0: all)")->capture_default_str();
  app.add_option("--seed", seed, "sampling seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (engine thread pool and OpenBLAS)")->capture_default_str();
  app.add_flag("--timing", timing, "print the time per generated token at increasing lengths");
  bool allow_nan = false;
  app.add_flag("--allow-non-finite", allow_nan, "load a checkpoint even if it holds NaN or Inf (refused by default)");
  CLI11_PARSE(app, argc, argv);
  allow_non_finite(allow_nan);
  try {
    tune_malloc_for_reuse();
    set_num_threads(threads);
    const RunState run = peek_run(checkpoint);
    PerformerLM<float> model(PerformerConfig::from_json(run.config_json));
    AdamW<float> optimizer(model.named_parameters());  // the checkpoint holds its state too
    load_run(checkpoint, model, optimizer);
    if (prompt.empty()) prompt = checkpoint_prompt(checkpoint);
    Rng rng(seed);
    const SamplingResult result = generate_text(model, prompt, sampling, rng);
    fmt::print("{}{}\n", printable(prompt), printable(result.text));
    if (timing) {
      const auto& s = result.seconds_per_token;
      fmt::print("\n{} generation ({} mode), time per token over the generated text:\n", model.config().attention,
                 result.recurrent ? "recurrent" : "full-recompute");
      for (std::size_t start = 0; start < s.size(); start = start == 0 ? 64 : start * 2) {
        const std::size_t end = std::min(s.size(), start == 0 ? std::size_t(64) : start * 2);
        const double mean = std::accumulate(s.begin() + start, s.begin() + end, 0.0) / double(end - start);
        fmt::print("  tokens {:>6} .. {:>6}: {:8.1f} us/token\n", start, end, mean * 1e6);
      }
      fmt::print("peak RSS {:.0f} MiB\n", double(peak_rss_bytes()) / (1 << 20));
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sample_text: error: {}\n", e.what());
    return 1;
  }
}
