// sample_text: generate text from a train_text checkpoint, by default continuing the prompt
// train_text used (taken from its corpus, stored in the checkpoint). Causal FAVOR models generate
// in RNN mode (constant time and memory per token); --samples N generates N samples in one
// batch, sample i drawing from generator stream i of --seed (so it equals the sample generated
// alone from that stream); --timing shows the time per token as the generated text grows;
// --weights float16 stores the recurrent decoder's product weights as IEEE halves (lossy, faster).
//
//   sample_text --checkpoint runs/text.safetensors --prompt "And Jesus said" --length 500
//   sample_text --samples 16 --timing
//   sample_text --timing --weights float16
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
#include "flag_checks.hpp"
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


// Mean seconds per step over [start, end) of the steps.
double mean_seconds(const std::vector<double>& s, std::size_t start, std::size_t end) {
  return std::accumulate(s.begin() + start, s.begin() + end, 0.0) / double(end - start);
}

// us per token (one sample) or tokens/s (several) over lengths 0..64, 64..128, 128..256, ...,
// each also as a JSON line.
void print_timing(const SamplingResult& result, std::size_t samples, const std::string& kernel,
                  const std::string& weights) {
  const auto& s = result.seconds_per_token;
  fmt::print("\n{} generation ({} mode, {} weights, {} sample{} at once), time per step over the generated text:\n",
             kernel, result.recurrent ? "recurrent" : "full-recompute", weights, samples, samples == 1 ? "" : "s");
  for (std::size_t start = 0; start < s.size(); start = start == 0 ? 64 : start * 2) {
    const std::size_t end = std::min(s.size(), start == 0 ? std::size_t(64) : start * 2);
    const double step = mean_seconds(s, start, end);
    fmt::print("  tokens {:>6} .. {:>6}: {:8.1f} us/step, {:8.1f} us/token, {:9.0f} tokens/s\n", start, end,
               step * 1e6, step * 1e6 / double(samples), double(samples) / step);
    fmt::print("{{\"program\":\"sample_text\",\"weights\":\"{}\",\"samples\":{},\"from\":{},\"to\":{},"
               "\"us_per_step\":{:.2f},\"tokens_per_s\":{:.0f}}}\n",
               weights, samples, start, end, step * 1e6, double(samples) / step);
  }
}
}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint = "runs/text.safetensors", prompt;
  SamplingOptions sampling;
  std::uint64_t seed = 7;
  int threads = 1;
  bool timing = false;
  std::size_t samples = 1;
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
  app.add_option("--samples", samples, "samples generated together in one batch (sample i uses stream i of --seed)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t(1), std::size_t(4096)));
  app.add_flag("--timing", timing,
               "print the time per token at increasing lengths (with --samples N > 1: also one sample alone, and "
               "the tokens/s ratio)");
  std::string weights = "float32";
  app.add_option("--weights", weights,
                 "storage of the recurrent decoder's product weights: float32 (exact) or float16 (lossy: each weight "
                 "rounded to nearest, relative error <= 2^-11; half the bytes to read per token)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "float16"}));
  bool allow_nan = false;
  app.add_flag("--allow-non-finite", allow_nan, "load a checkpoint even if it holds NaN or Inf (refused by default)");
  CLI11_PARSE(app, argc, argv);
  allow_non_finite(allow_nan);
  try {
    tune_malloc_for_reuse();
    set_num_threads(threads);
    examples::warn_if_threads_exceed_cpus(threads);
    sampling.weights = parse_weight_storage(weights);
    const RunState run = peek_run(checkpoint);
    PerformerLM<float> model(PerformerConfig::from_json(run.config_json));
    AdamW<float> optimizer(model.named_parameters());  // the checkpoint holds its state too
    load_run(checkpoint, model, optimizer);
    if (prompt.empty()) prompt = checkpoint_prompt(checkpoint);
    if (sampling.weights == WeightStorage::float16 && !model.supports_recurrent_generation())
      throw std::invalid_argument(fmt::format("--weights float16 is for the recurrent decoder; this model (attention "
                                              "'{}') generates by full recompute",
                                              attention_kernel_name(model.config().attention)));
    std::vector<Rng> rngs;
    for (std::size_t i = 0; i < samples; ++i) rngs.push_back(sample_stream(seed, i));
    const SamplingResult result = generate_samples(model, prompt, sampling, rngs);
    for (std::size_t i = 0; i < samples; ++i) {
      if (samples > 1) fmt::print("--- sample {} ---\n", i);
      fmt::print("{}{}\n", printable(prompt), printable(result.samples[i]));
    }
    if (timing) {
      const std::string kernel = attention_kernel_name(model.config().attention);
      // Only the recurrent decoder stores weights in float16; full recompute uses the model's.
      const std::string shown_weights = result.recurrent ? weights : "float32 (model)";
      if (samples > 1) {
        // One sample alone, in the same run, for the ratio (noise hits both runs alike).
        std::vector<Rng> one{sample_stream(seed, 0)};
        const SamplingResult alone = generate_samples(model, prompt, sampling, one);
        print_timing(alone, 1, kernel, shown_weights);
        print_timing(result, samples, kernel, shown_weights);
        const auto& a = alone.seconds_per_token;
        const auto& b = result.seconds_per_token;
        if (!a.empty() && !b.empty()) {
          const double ratio = (double(samples) / mean_seconds(b, 0, b.size())) / (1.0 / mean_seconds(a, 0, a.size()));
          fmt::print("{} samples at once: {:.1f}x the tokens/s of one sample\n", samples, ratio);
        }
      } else {
        print_timing(result, 1, kernel, shown_weights);
      }
      fmt::print("peak RSS {:.0f} MiB\n", double(peak_rss_bytes()) / (1 << 20));
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sample_text: error: {}\n", e.what());
    return 1;
  }
}
