// train_pixels: Performers on Fashion-MNIST (Debian's dataset-fashion-mnist), two tasks:
//   --task classify   an image as a sequence (7x7 patches by default, or 784 raw pixel tokens)
//                     through a bidirectional Performer encoder, training images mirrored and
//                     shifted at random; test accuracy on all 10k images
//   --task generate   28x28 images, intensities quantized to 16 levels, as 784 tokens for a causal
//                     Performer; test bits/dim next to the per-position marginal baseline, and
//                     PNG grids of samples and of completions of the top halves of test images
//
//   train_pixels --task classify --minutes 10
//   train_pixels --task generate --minutes 30 --eval-every-minutes 10 --png-dir docs
//   train_pixels --task generate --resume --checkpoint runs/pixels_generate.safetensors
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/kernels/gemm.hpp"
#include "engine/core/memory.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/ops/softmax.hpp"
#include "models/performer_classifier.hpp"
#include "model_flags.hpp"
#include "models/performer_lm.hpp"
#include "pixel_data.hpp"
#include "png_writer.hpp"
#include "text_sampling.hpp"
#include "training_loop.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::examples;

namespace {

struct Options {
  std::string task = "classify";
  std::string data = kFashionMnistDir;
  std::string input = "patches";  // classify: patches | pixels
  std::size_t patch = 7;            // classify: 16 tokens; the best use of a 10-minute budget
  std::string pooling = "mean";
  std::string augment = "flip+shift";  // classify: how training images are varied
  std::size_t max_shift = 1;
  std::size_t levels = 16;        // generate
  PerformerConfig model;
  std::size_t batch = 0;          // 0: 64 for classify, 16 for generate
  TrainingBudget budget;
  double weight_decay = 0.01;
  int threads = 2;
  std::string checkpoint;         // default runs/pixels_<task>.safetensors
  bool resume = false;
  std::string log;
  std::size_t eval_images = 0;    // 0: all 10k (classify), 1000 (generate)
  std::size_t samples = 32;       // generate: images sampled at the end (0: none)
  std::size_t completions = 8;    // generate: test images whose top half is completed
  double temperature = 1.0;
  std::string png_dir = "runs";
  std::uint64_t sample_seed = 7;
};

std::vector<std::size_t> random_images(std::size_t count, std::size_t B, Rng& rng) {
  std::vector<std::size_t> images(B);
  for (std::size_t& i : images) i = rng.below(count);
  return images;
}

std::vector<std::size_t> range(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> v;
  for (std::size_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}

// ---- classification -------------------------------------------------------------------------

struct Classify {
  const Options& o;
  PerformerClassifier<float>* model;
  Augmentation augmentation;
  bool patches() const { return o.input == "patches"; }
  Tensor<float> logits(const ImageSet& set, const std::vector<std::size_t>& images) {
    return patches() ? model->forward(patch_features(set, images, o.patch)) : model->forward(pixel_tokens(set, images));
  }
  Tensor<float> loss(const ImageSet& set, const std::vector<std::size_t>& images) {
    Indices targets = Indices::from_shape({images.size()});
    for (std::size_t b = 0; b < images.size(); ++b) targets(b) = set.labels[images[b]];
    return cross_entropy(logits(set, images), targets);
  }
  // Accuracy and mean cross-entropy over the first n images of `set`.
  std::pair<double, double> evaluate(const ImageSet& set, std::size_t n) {
    NoGradGuard no_grad;
    std::size_t correct = 0;
    double nll = 0;
    for (std::size_t begin = 0; begin < n; begin += 250) {
      const auto images = range(begin, std::min(n, begin + 250));
      const Tensor<float> out = logits(set, images);
      const std::size_t C = out.size(1);
      for (std::size_t b = 0; b < images.size(); ++b) {
        const float* row = out.data() + b * C;
        const std::size_t guess = std::max_element(row, row + C) - row;
        correct += guess == set.labels[images[b]];
        const float max = row[guess];
        double sum = 0;
        for (std::size_t c = 0; c < C; ++c) sum += std::exp(double(row[c] - max));
        nll += std::log(sum) - double(row[set.labels[images[b]]] - max);
      }
    }
    return {double(correct) / double(n), nll / double(n)};
  }
};

// ---- generation -----------------------------------------------------------------------------

// Mean bits per pixel of the model on the first n images of `set`.
double model_bits_per_dim(PerformerLM<float>& model, const ImageSet& set, std::size_t n, std::size_t levels) {
  NoGradGuard no_grad;
  double nats = 0;
  for (std::size_t begin = 0; begin < n; begin += 20) {
    const auto images = range(begin, std::min(n, begin + 20));
    const PixelSequences s = quantized_sequences(set, images, levels);
    nats += model.loss(s.inputs, s.targets).item() * double(images.size());
  }
  return nats / double(n) / std::log(2.0);
}

// Images generated in RNN mode: the first `given` pixels of each row of `prefix` (levels) are fed
// as they are, the rest sampled. prefix [B, L] (ignored when given = 0). Returns pixels [B, L].
std::vector<std::uint8_t> generate_images(const PerformerLM<float>& model, const Indices& prefix, std::size_t B,
                                          std::size_t L, std::size_t given, std::size_t levels, double temperature,
                                          Rng& rng) {
  auto state = model.initial_state(B);
  Indices token = Indices::from_shape({B});
  std::fill(token.begin(), token.end(), std::int64_t(levels));  // start token
  std::vector<std::uint8_t> pixels(B * L);
  SamplingOptions sampling;
  sampling.temperature = temperature;
  std::vector<float> row(levels);
  for (std::size_t t = 0; t < L; ++t) {
    const Tensor<float> logits = model.step(token, state);  // [B, levels + 1]
    for (std::size_t b = 0; b < B; ++b) {
      std::int64_t level;
      if (t < given) {
        level = prefix(b, t);
      } else {
        // the start token is never a pixel: sample among the levels only
        std::copy_n(logits.data() + b * (levels + 1), levels, row.begin());
        level = static_cast<std::int64_t>(sample_token(row.data(), levels, sampling, rng));
      }
      token(b) = level;
      pixels[b * L + t] = level_to_pixel(level, levels);
    }
  }
  return pixels;
}

void write_generation_pngs(const PerformerLM<float>& model, const ImageSet& test, const Options& o) {
  if (!model.supports_recurrent_generation()) {
    fmt::print("no PNGs: sampling uses the RNN mode of causal FAVOR kernels (attention '{}')\n", o.model.attention);
    return;
  }
  std::filesystem::create_directories(o.png_dir);
  const std::size_t L = test.image_size();
  Rng rng(o.sample_seed);
  if (o.samples > 0) {
    const auto pixels = generate_images(model, Indices(), o.samples, L, 0, o.levels, o.temperature, rng);
    const std::string path = o.png_dir + "/fashion_samples.png";
    write_png_gray(path, tile_images(pixels.data(), o.samples, test.rows, test.cols, 8, 2, 64, 2));
    fmt::print("wrote {} ({} samples, temperature {})\n", path, o.samples, o.temperature);
  }
  if (o.completions > 0) {
    // rows of the grid: the test images (quantized), then two completions of their top halves
    const std::size_t n = std::min(o.completions, test.count), given = L / 2;
    const PixelSequences truth = quantized_sequences(test, range(0, n), o.levels);
    std::vector<std::uint8_t> grid(3 * n * L);
    for (std::size_t i = 0; i < n * L; ++i) grid[i] = level_to_pixel(truth.targets.data()[i], o.levels);
    for (std::size_t k = 1; k <= 2; ++k) {
      const auto completed = generate_images(model, truth.targets, n, L, given, o.levels, o.temperature, rng);
      std::copy(completed.begin(), completed.end(), grid.begin() + k * n * L);
    }
    const std::string path = o.png_dir + "/fashion_completions.png";
    write_png_gray(path, tile_images(grid.data(), 3 * n, test.rows, test.cols, n, 2, 64, 2));
    fmt::print("wrote {} (top row: {} test images; below: two completions of each top half)\n", path, n);
  }
}

// ---- the run ----------------------------------------------------------------------------------

int run(Options o) {
  tune_malloc_for_reuse();
  set_num_threads(o.threads);
  const bool classify = o.task == "classify";
  if (!classify && o.task != "generate")
    throw std::invalid_argument(fmt::format("--task must be classify or generate, got '{}'", o.task));
  if (o.input != "patches" && o.input != "pixels")
    throw std::invalid_argument(fmt::format("--input must be patches or pixels, got '{}'", o.input));
  if (o.checkpoint.empty()) o.checkpoint = "runs/pixels_" + o.task + ".safetensors";
  if (o.batch == 0) o.batch = classify ? 64 : 16;

  const ImageSet train = load_fashion_mnist("train", o.data);
  const ImageSet test = load_fashion_mnist("t10k", o.data);
  const std::size_t eval_images = std::min(test.count, o.eval_images > 0 ? o.eval_images : (classify ? test.count : 1000));

  RunState run;
  if (o.resume) {
    run = peek_run_to_resume(o.checkpoint);
    o.model = PerformerConfig::from_json(run.config_json);
    const Metadata meta = load_safetensors(o.checkpoint).metadata;
    const auto task = meta.find("pixels.task");
    if (task == meta.end() || task->second != o.task)
      throw std::runtime_error(fmt::format("--resume: checkpoint '{}' was not trained with --task {}", o.checkpoint, o.task));
    // the data settings the run started with (older checkpoints lack some: keep the flags then)
    const auto restore = [&](const char* key, auto& field) {
      const auto it = meta.find(key);
      if (it == meta.end()) return;
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>) {
        field = it->second;
      } else {
        const std::string& text = it->second;
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
          throw std::runtime_error(fmt::format("--resume: checkpoint '{}' has {} = '{}', not a count", o.checkpoint, key, text));
        field = static_cast<std::size_t>(std::stoull(text));
      }
    };
    restore("pixels.input", o.input);
    restore("pixels.patch", o.patch);
    restore("pixels.pooling", o.pooling);
    restore("pixels.levels", o.levels);
    restore("pixels.augment", o.augment);
    restore("pixels.max_shift", o.max_shift);
  }
  const std::size_t L = classify && o.input == "patches" ? (train.rows / o.patch) * (train.cols / o.patch) : train.image_size();
  o.model.context = L;
  o.model.causal = !classify;
  if (classify) {
    o.model.vocab = 256;  // raw pixel tokens (unused with patches)
  } else {
    if (o.levels < 2 || o.levels > 256) throw std::invalid_argument(fmt::format("--levels must be in [2, 256], got {}", o.levels));
    o.model.vocab = o.levels + 1;  // the levels and a start token
  }
  o.model.validate();
  const Augmentation augmentation = classify ? parse_augmentation(o.augment, o.max_shift) : Augmentation{};

  std::unique_ptr<PerformerClassifier<float>> classifier;
  std::unique_ptr<PerformerLM<float>> generator;
  Module<float>* model;
  if (classify) {
    classifier = std::make_unique<PerformerClassifier<float>>(o.model, 10, parse_pooling(o.pooling),
                                                              o.input == "patches" ? o.patch * o.patch : 0);
    model = classifier.get();
  } else {
    generator = std::make_unique<PerformerLM<float>>(o.model);
    model = generator.get();
  }
  AdamOptions adam;
  adam.lr = o.budget.lr;
  adam.weight_decay = o.weight_decay;
  AdamW<float> optimizer(model->named_parameters(), adam);
  Rng data_rng(o.model.seed * 31 + 17);
  if (o.resume) {
    run = resume_run(o.checkpoint, *model, optimizer, data_rng);
  }
  if (auto dir = std::filesystem::path(o.checkpoint).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
  const std::string log_path =
      !o.log.empty() ? o.log : std::filesystem::path(o.checkpoint).replace_extension(".jsonl").string();
  JsonlLog log(log_path, o.resume);

  fmt::print("task {}: {} train / {} test images; sequence of {} {}; model: {} parameters, {} layers, width {}, {} heads, "
             "attention {} (m = {}), batch {}, {} threads{}\n",
             o.task, train.count, test.count, L, classify ? (o.input == "patches" ? fmt::format("{0}x{0} patches", o.patch) : "pixel tokens") : fmt::format("pixels of {} levels", o.levels),
             model->parameter_count(), o.model.depth, o.model.width, o.model.heads, o.model.attention, o.model.features,
             o.batch, o.threads,
             classify ? fmt::format("; training images varied: {}{}", augmentation_name(augmentation),
                                    augmentation.max_shift > 0 ? fmt::format(" (shifts up to {} px)", augmentation.max_shift) : "")
                     : "");

  const MarginalBaseline baseline(train, classify ? 2 : o.levels);
  const double baseline_bpd = baseline.bits_per_dim(test, range(0, eval_images));
  Classify classifier_task{o, classifier.get(), augmentation};
  double last_metric = NAN;

  TrainingHooks<float> hooks;
  if (classify) {
    hooks.next_loss = [&] {
      const auto images = random_images(train.count, o.batch, data_rng);
      if (!classifier_task.augmentation.any())
        return std::make_pair(classifier_task.loss(train, images), double(o.batch));
      const ImageSet varied = augmented_images(train, images, classifier_task.augmentation, data_rng);
      return std::make_pair(classifier_task.loss(varied, first_n(o.batch)), double(o.batch));
    };
    hooks.evaluate = [&] {
      const auto [accuracy, nll] = classifier_task.evaluate(test, eval_images);
      last_metric = accuracy;
      fmt::print("  test accuracy {:.2f}% on {} images (cross-entropy {:.4f})\n", 100 * accuracy, eval_images, nll);
      log.write("eval", {{"step", double(run.step)}, {"test_accuracy", accuracy}, {"test_nll", nll},
                         {"elapsed_s", run.elapsed_seconds}});
    };
  } else {
    hooks.next_loss = [&] {
      const PixelSequences s = quantized_sequences(train, random_images(train.count, o.batch, data_rng), o.levels);
      return std::make_pair(generator->loss(s.inputs, s.targets), double(s.targets.size()));
    };
    hooks.evaluate = [&] {
      const double bpd = model_bits_per_dim(*generator, test, eval_images, o.levels);
      last_metric = bpd;
      fmt::print("  test {:.4f} bits/dim on {} images (per-position marginal baseline {:.4f})\n", bpd, eval_images,
                 baseline_bpd);
      log.write("eval", {{"step", double(run.step)}, {"test_bits_per_dim", bpd}, {"baseline_bits_per_dim", baseline_bpd},
                         {"elapsed_s", run.elapsed_seconds}});
    };
  }
  hooks.save = [&] {
    run.data_rng = data_rng.state();
    run.config_json = o.model.to_json();
    save_run(o.checkpoint, *model, optimizer, run,
             {{"pixels.task", o.task}, {"pixels.input", o.input}, {"pixels.patch", std::to_string(o.patch)},
              {"pixels.levels", std::to_string(o.levels)}, {"pixels.pooling", o.pooling}, {"pixels.augment", o.augment},
              {"pixels.max_shift", std::to_string(o.max_shift)}});
  };
  const TrainingSummary summary = train_for_budget(*model, optimizer, run, o.budget, hooks, log);

  if (classify)
    fmt::print("trained {} steps in {} ({:.0f} images/s); test accuracy {:.2f}% on {} images\n", run.step,
               format_duration(run.elapsed_seconds), summary.units_per_second, 100 * last_metric, eval_images);
  else
    fmt::print("trained {} steps in {} ({:.0f} tokens/s); test {:.4f} bits/dim on {} images; marginal baseline {:.4f}\n",
               run.step, format_duration(run.elapsed_seconds), summary.units_per_second, last_metric, eval_images,
               baseline_bpd);
  print_run_footer(summary, o.checkpoint, log_path);
  if (!classify) write_generation_pngs(*generator, test, o);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.model.width = 64;
  o.model.depth = 2;
  o.model.heads = 4;
  o.model.ff_hidden = 256;
  o.model.features = 32;
  o.budget.lr = 2e-3;
  o.budget.min_lr = 1e-4;
  o.budget.warmup = 100;
  CLI::App app{"Train Performers on Fashion-MNIST: classify images as sequences, or generate them pixel by pixel."};
  app.add_option("--task", o.task, "classify | generate")->capture_default_str();
  app.add_option("--data", o.data, "folder with the four *-ubyte.gz files (Debian dataset-fashion-mnist)")
      ->capture_default_str();
  app.add_option("--input", o.input, "classify: patches | pixels (784 raw pixel tokens)")->capture_default_str();
  app.add_option("--patch", o.patch, "classify: patch side (divides 28)")->capture_default_str();
  app.add_option("--pooling", o.pooling, "classify: mean | class-token")->capture_default_str();
  app.add_option("--augment", o.augment,
                 "classify: vary training images: none | flip (mirror half of them) | shift | flip+shift")
      ->capture_default_str();
  app.add_option("--max-shift", o.max_shift, "classify: largest shift in pixels along each axis for --augment")
      ->capture_default_str();
  app.add_option("--levels", o.levels, "generate: intensity levels")->capture_default_str();
  bool iid = false;
  add_model_flags(app, o.model, iid);
  app.add_option("--batch", o.batch, "images per step (0: 64 for classify, 16 for generate)")->capture_default_str();
  add_budget_flags(app, o.budget);
  app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--eval-images", o.eval_images, "test images evaluated (0: all 10k to classify, 1000 to generate)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "threads (engine thread pool and OpenBLAS)")->capture_default_str();
  app.add_option("--checkpoint", o.checkpoint, "checkpoint file (default runs/pixels_<task>.safetensors)");
  app.add_flag("--resume", o.resume, "continue the run saved in --checkpoint (model and data settings come from it)");
  app.add_option("--log", o.log, "JSON-lines curve (default: checkpoint path with .jsonl)");
  app.add_option("--samples", o.samples, "generate: images sampled into <png-dir>/fashion_samples.png")->capture_default_str();
  app.add_option("--completions", o.completions, "generate: test images completed into <png-dir>/fashion_completions.png")
      ->capture_default_str();
  app.add_option("--temperature", o.temperature, "generate: sampling temperature")->capture_default_str();
  app.add_option("--png-dir", o.png_dir, "generate: folder for the PNG grids")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  apply_model_flags(o.model, iid);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "train_pixels: error: {}\n", e.what());
    return 1;
  }
}
