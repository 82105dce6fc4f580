// A tiny end-to-end check of the pixel classification path: a bidirectional Performer
// classifier on patch sequences learns to tell apart a few synthetic image classes.
#include <algorithm>

#include <catch2/catch.hpp>

#include "engine/optim/optimizers.hpp"
#include "engine/ops/softmax.hpp"
#include "models/performer_classifier.hpp"
#include "models/tiny_config.hpp"
#include "pixel_data.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;

namespace {

// 8x8 images of four classes: a horizontal bar, a vertical bar, the main diagonal, a centred
// square; bar positions and noise vary per image.
ImageSet synthetic_images(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  ImageSet set;
  set.count = n;
  set.rows = 8;
  set.cols = 8;
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint8_t label = static_cast<std::uint8_t>(k % 4);
    const std::size_t at = 1 + rng.below(6);
    for (std::size_t y = 0; y < 8; ++y)
      for (std::size_t x = 0; x < 8; ++x) {
        bool on = label == 0 ? y == at : label == 1 ? x == at : label == 2 ? x == y : (x >= 2 && x < 6 && y >= 2 && y < 6);
        const double noise = rng.uniform() * 60;
        set.pixels.push_back(static_cast<std::uint8_t>(on ? 255 - noise : noise));
      }
    set.labels.push_back(label);
  }
  return set;
}

}  // namespace

TEST_CASE("pixel classifier: a tiny Performer encoder learns synthetic images", "[examples][pixels][end-to-end]") {
  const ImageSet train = synthetic_images(64, 1), test = synthetic_images(64, 2);
  // vocab at its default; context 16: 2x2 patches of 8x8 images
  PerformerConfig config = sized_config(256, 16, 1, 2, 32, 16, 16);
  config.attention = AttentionKernel::favor_positive;
  PerformerClassifier<float> model(config, 4, Pooling::mean, 4);
  AdamOptions adam;
  adam.lr = 1e-2;
  AdamW<float> optimizer(model.named_parameters(), adam);
  auto accuracy = [&](const ImageSet& set) {
    NoGradGuard no_grad;
    const Tensor<float> logits = model.forward(patch_features(set, first_n(set.count), 2));
    std::size_t correct = 0;
    for (std::size_t b = 0; b < set.count; ++b) {
      const float* row = logits.data() + b * 4;
      correct += std::size_t(std::max_element(row, row + 4) - row) == set.labels[b];
    }
    return double(correct) / double(set.count);
  };
  const double before = accuracy(test);
  Indices targets = Indices::from_shape({train.count});
  for (std::size_t b = 0; b < train.count; ++b) targets(b) = train.labels[b];
  const Tensor<float> inputs = patch_features(train, first_n(train.count), 2);
  for (int step = 0; step < 60; ++step) {
    Tensor<float> loss = cross_entropy(model.forward(inputs), targets);
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
  }
  const double after = accuracy(test);
  INFO("test accuracy before " << before << ", after " << after);
  REQUIRE(before < 0.6);
  REQUIRE(after >= 0.9);
}
