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

#include "engine/io/safetensors.hpp"
#include "engine/ops/softmax.hpp"
#include "models/performer_classifier.hpp"
#include "model_flags.hpp"
#include "models/performer_flops.hpp"
#include "models/performer_lm.hpp"
#include "pixel_data.hpp"
#include "pixel_generation.hpp"
#include "training_session.hpp"

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
  std::size_t batch = 0;          // the global batch; 0: 64 for classify, 16 for generate
  SessionFlags session;           // checkpoint default runs/pixels_<task>.safetensors
  std::size_t eval_images = 0;    // 0: all 10k (classify), 1000 (generate)
  PngGrids png;                   // generate: the pictures at the end
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
  // Accuracy and mean cross-entropy over the first n images of `set`, each rank taking its share.
  std::pair<double, double> evaluate(const ImageSet& set, std::size_t n, const TrainingSession& session) {
    NoGradGuard no_grad;
    std::vector<double> totals = {0, 0};  // correct, nll
    const Shard mine = session.share_of(n);
    for (std::size_t begin = mine.begin; begin < mine.begin + mine.count; begin += 250) {
      const auto images = range(begin, std::min(mine.begin + mine.count, begin + 250));
      const Tensor<float> out = logits(set, images);
      const std::size_t C = out.size(1);
      for (std::size_t b = 0; b < images.size(); ++b) {
        const float* row = out.data() + b * C;
        const std::size_t guess = std::max_element(row, row + C) - row;
        totals[0] += guess == set.labels[images[b]];
        const float max = row[guess];
        double sum = 0;
        for (std::size_t c = 0; c < C; ++c) sum += std::exp(double(row[c] - max));
        totals[1] += std::log(sum) - double(row[set.labels[images[b]]] - max);
      }
    }
    session.sum_over_ranks(totals);
    return {totals[0] / double(n), totals[1] / double(n)};
  }
};

// ---- generation -----------------------------------------------------------------------------

// Mean bits per pixel of the model on the first n images of `set`, each rank taking its share.
double model_bits_per_dim(PerformerLM<float>& model, const ImageSet& set, std::size_t n, std::size_t levels,
                          const TrainingSession& session) {
  NoGradGuard no_grad;
  std::vector<double> nats = {0};
  const Shard mine = session.share_of(n);
  for (std::size_t begin = mine.begin; begin < mine.begin + mine.count; begin += 20) {
    const auto images = range(begin, std::min(mine.begin + mine.count, begin + 20));
    const PixelSequences s = quantized_sequences(set, images, levels);
    nats[0] += model.loss(s.inputs, s.targets).item() * double(images.size());
  }
  session.sum_over_ranks(nats);
  return nats[0] / double(n) / std::log(2.0);
}

// ---- the run ----------------------------------------------------------------------------------

int run(Options o) {
  TrainingSession session("train_pixels", o.session);
  const bool classify = o.task == "classify";
  if (!classify && o.task != "generate")
    throw std::invalid_argument(fmt::format("--task must be classify or generate, got '{}'", o.task));
  if (o.input != "patches" && o.input != "pixels")
    throw std::invalid_argument(fmt::format("--input must be patches or pixels, got '{}'", o.input));
  if (o.batch == 0) o.batch = classify ? 64 : 16;
  session.check_batch(o.batch);

  const ImageSet train = load_fashion_mnist("train", o.data);
  const ImageSet test = load_fashion_mnist("t10k", o.data);
  const std::size_t eval_images = std::min(test.count, o.eval_images > 0 ? o.eval_images : (classify ? test.count : 1000));

  session.adopt_resumed_config(o.model);
  if (o.session.resume) {
    const std::string& checkpoint = session.checkpoint();
    const Metadata meta = load_safetensors(checkpoint).metadata;
    const auto task = meta.find("pixels.task");
    if (task == meta.end() || task->second != o.task)
      throw std::runtime_error(fmt::format("--resume: checkpoint '{}' was not trained with --task {}", checkpoint, o.task));
    // the data settings the run started with (older checkpoints lack some: keep the flags then)
    const auto restore = [&](const char* key, auto& field) {
      const auto it = meta.find(key);
      if (it == meta.end()) return;
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>) {
        field = it->second;
      } else {
        const std::string& text = it->second;
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
          throw std::runtime_error(fmt::format("--resume: checkpoint '{}' has {} = '{}', not a count", checkpoint, key, text));
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
  session.set_checkpoint_metadata({{"pixels.task", o.task}, {"pixels.input", o.input},
                                   {"pixels.patch", std::to_string(o.patch)}, {"pixels.levels", std::to_string(o.levels)},
                                   {"pixels.pooling", o.pooling}, {"pixels.augment", o.augment},
                                   {"pixels.max_shift", std::to_string(o.max_shift)}});
  session.start(*model, o.model);
  RunState& run = session.run();
  JsonlLog& log = session.log();
  Rng& data_rng = session.data_rng();
  const Shard rows = session.shard(o.batch);

  session.print("task {}: {} train / {} test images; sequence of {} {}; model: {} parameters, {} layers, width {}, {} heads, "
             "attention {} (m = {}), batch {}, {} threads{}\n",
             o.task, train.count, test.count, L, classify ? (o.input == "patches" ? fmt::format("{0}x{0} patches", o.patch) : "pixel tokens") : fmt::format("pixels of {} levels", o.levels),
             model->parameter_count(), o.model.depth, o.model.width, o.model.heads, o.model.attention, o.model.features,
             o.batch, session.threads(),
             classify ? fmt::format("; training images varied: {}{}", augmentation_name(augmentation),
                                    augmentation.max_shift > 0 ? fmt::format(" (shifts up to {} px)", augmentation.max_shift) : "")
                     : "");

  const MarginalBaseline baseline(train, classify ? 2 : o.levels);
  const double baseline_bpd = baseline.bits_per_dim(test, range(0, eval_images));
  Classify classifier_task{o, classifier.get(), augmentation};
  double last_metric = NAN;

  TrainingHooks<float> hooks;
  hooks.rate_unit = classify ? "img" : "tok";
  hooks.flops_per_unit = (classify ? classifier_flops_per_sequence(o.model, 10, parse_pooling(o.pooling),
                                                                   o.input == "patches" ? o.patch * o.patch : 0)
                                   : lm_flops_per_token(o.model)).training();
  hooks.curve_metric = classify ? CurveMetric{"test_accuracy", "test accuracy (%)", 100} : CurveMetric{"test_bits_per_dim", "test bits/dim"};
  if (classify) {
    hooks.next_loss = [&] {
      // Every rank draws (and varies) the global batch, the same stream as one process, and
      // trains on its rows of it.
      const auto images = random_images(train.count, o.batch, data_rng);
      const auto mine = range(rows.begin, rows.begin + rows.count);
      if (!classifier_task.augmentation.any()) {
        std::vector<std::size_t> picked;
        for (std::size_t i : mine) picked.push_back(images[i]);
        return std::make_pair(classifier_task.loss(train, picked), double(rows.count));
      }
      const ImageSet varied = augmented_images(train, images, classifier_task.augmentation, data_rng);
      return std::make_pair(classifier_task.loss(varied, mine), double(rows.count));
    };
    hooks.evaluate = [&] {
      const auto [accuracy, nll] = classifier_task.evaluate(test, eval_images, session);
      last_metric = accuracy;
      session.print("  test accuracy {:.2f}% on {} images (cross-entropy {:.4f})\n", 100 * accuracy, eval_images, nll);
      log.write("eval", {{"step", double(run.step)}, {"test_accuracy", accuracy}, {"test_nll", nll},
                         {"elapsed_s", run.elapsed_seconds}});
    };
  } else {
    hooks.next_loss = [&] {
      const auto images = random_images(train.count, o.batch, data_rng);
      const PixelSequences s = quantized_sequences(
          train, std::vector<std::size_t>(images.begin() + rows.begin, images.begin() + rows.begin + rows.count), o.levels);
      return std::make_pair(generator->loss(s.inputs, s.targets), double(s.targets.size()));
    };
    hooks.evaluate = [&] {
      const double bpd = model_bits_per_dim(*generator, test, eval_images, o.levels, session);
      last_metric = bpd;
      session.print("  test {:.4f} bits/dim on {} images (per-position marginal baseline {:.4f})\n", bpd, eval_images,
                 baseline_bpd);
      log.write("eval", {{"step", double(run.step)}, {"test_bits_per_dim", bpd}, {"baseline_bits_per_dim", baseline_bpd},
                         {"elapsed_s", run.elapsed_seconds}});
    };
  }
  const TrainingSummary summary = session.train(hooks);

  if (classify)
    session.print("trained {} steps in {} ({:.0f} images/s); test accuracy {:.2f}% on {} images\n", run.step,
               format_duration(run.elapsed_seconds), summary.units_per_second, 100 * last_metric, eval_images);
  else
    session.print("trained {} steps in {} ({:.0f} tokens/s); test {:.4f} bits/dim on {} images; marginal baseline {:.4f}\n",
               run.step, format_duration(run.elapsed_seconds), summary.units_per_second, last_metric, eval_images,
               baseline_bpd);
  session.print_footer(summary);
  o.png.levels = o.levels;
  if (!classify && session.is_root()) write_generation_pngs(*generator, test, o.png);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.model = sized_config(/*width*/ 64, /*depth*/ 2, /*heads*/ 4, /*ff*/ 256, /*m*/ 32);
  o.session.budget.lr = 2e-3;
  o.session.budget.min_lr = 1e-4;
  o.session.budget.warmup = 100;
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
  app.add_option("--batch", o.batch, "images per step over all ranks (0: 64 for classify, 16 for generate)")
      ->capture_default_str();
  add_session_flags(app, o.session);
  app.get_option("--checkpoint")->description("checkpoint file (default runs/pixels_<task>.safetensors)");
  app.get_option("--resume")->description("continue the run saved in --checkpoint (model and data settings come from it)");
  app.add_option("--eval-images", o.eval_images, "test images evaluated (0: all 10k to classify, 1000 to generate)")
      ->capture_default_str();
  app.add_option("--samples", o.png.samples, "generate: images sampled into <png-dir>/fashion_samples.png")->capture_default_str();
  app.add_option("--completions", o.png.completions, "generate: test images completed into <png-dir>/fashion_completions.png")
      ->capture_default_str();
  app.add_option("--temperature", o.png.temperature, "generate: sampling temperature")->capture_default_str();
  app.add_option("--png-dir", o.png.png_dir, "generate: folder for the PNG grids")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  apply_model_flags(o.model, iid);
  if (o.session.checkpoint.empty()) o.session.checkpoint = "runs/pixels_" + o.task + ".safetensors";
  return run_program("train_pixels", [&] { return run(o); });
}
