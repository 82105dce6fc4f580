#include <cmath>

#include <catch2/catch.hpp>

#include "pixel_data.hpp"

using namespace pf;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

// n images of rows x cols whose pixel (y, x) of image k is (k * 50 + y * cols + x) % 256.
ImageSet ramp_images(std::size_t n, std::size_t rows, std::size_t cols) {
  ImageSet set;
  set.count = n;
  set.rows = rows;
  set.cols = cols;
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t i = 0; i < rows * cols; ++i) set.pixels.push_back(static_cast<std::uint8_t>((k * 50 + i) % 256));
  set.labels.assign(n, 0);
  return set;
}

}  // namespace

TEST_CASE("pixel_data: patches in reading order, scaled to [0, 1]", "[examples][pixels]") {
  const ImageSet set = ramp_images(3, 4, 6);
  const Tensor<float> p = patch_features(set, {2, 0}, 2);
  REQUIRE(p.shape() == Shape{2, 6, 4});  // (4/2) * (6/2) patches of 2*2
  // batch row 0 is image 2; its patch 4 is grid (1, 1): top-left pixel (2, 2)
  auto pixel = [&](std::size_t k, std::size_t y, std::size_t x) { return float(set.image(k)[y * 6 + x]) / 255.0f; };
  REQUIRE(p.value()(0, 4, 0) == Approx(pixel(2, 2, 2)));
  REQUIRE(p.value()(0, 4, 1) == Approx(pixel(2, 2, 3)));
  REQUIRE(p.value()(0, 4, 2) == Approx(pixel(2, 3, 2)));
  REQUIRE(p.value()(0, 4, 3) == Approx(pixel(2, 3, 3)));
  REQUIRE(p.value()(1, 5, 3) == Approx(pixel(0, 3, 5)));
  REQUIRE_THROWS_WITH(patch_features(set, {0}, 4), Contains("patch side 4") && Contains("4x6"));
  REQUIRE_THROWS_WITH(patch_features(set, {3}, 2), Contains("image index 3"));
  const Indices ids = pixel_tokens(set, {1});
  REQUIRE(ids.shape()[1] == 24);
  REQUIRE(ids(0, 7) == set.image(1)[7]);
}

TEST_CASE("pixel_data: quantized levels and shifted sequences", "[examples][pixels]") {
  REQUIRE(quantize_pixel(0, 16) == 0);
  REQUIRE(quantize_pixel(15, 16) == 0);
  REQUIRE(quantize_pixel(16, 16) == 1);
  REQUIRE(quantize_pixel(255, 16) == 15);
  REQUIRE(level_to_pixel(0, 16) == 0);
  REQUIRE(level_to_pixel(15, 16) == 255);
  for (int v = 0; v < 256; ++v) REQUIRE(quantize_pixel(level_to_pixel(quantize_pixel(std::uint8_t(v), 16), 16), 16) == quantize_pixel(std::uint8_t(v), 16));
  REQUIRE_THROWS_WITH(level_to_pixel(16, 16), Contains("level 16"));

  const ImageSet set = ramp_images(2, 3, 3);
  const PixelSequences s = quantized_sequences(set, {1, 0}, 16);
  REQUIRE(s.inputs.shape()[1] == 9);
  REQUIRE(s.inputs(0, 0) == 16);  // the start token
  for (std::size_t t = 0; t < 9; ++t) {
    REQUIRE(s.targets(0, t) == quantize_pixel(set.image(1)[t], 16));
    if (t > 0) REQUIRE(s.inputs(0, t) == s.targets(0, t - 1));
  }
  REQUIRE_THROWS_WITH(quantized_sequences(set, {0}, 1), Contains("levels"));
}

TEST_CASE("pixel_data: the marginal baseline is the per-position empirical entropy", "[examples][pixels]") {
  // 4 images of 1x2: position 0 always level 0 (bits -> small), position 1 half 0, half 255
  ImageSet set;
  set.count = 4;
  set.rows = 1;
  set.cols = 2;
  set.pixels = {0, 0, 0, 255, 0, 0, 0, 255};
  set.labels.assign(4, 0);
  const MarginalBaseline baseline(set, 2);
  // add-one smoothing over 4 + 2 counts: p(pos0 = 0) = 5/6; p(pos1 = 0) = p(pos1 = 1) = 3/6
  const double expected = (-std::log2(5.0 / 6.0) - std::log2(3.0 / 6.0)) / 2;
  REQUIRE(baseline.bits_per_dim(set, first_n(4)) == Approx(expected).epsilon(1e-12));
  // a uniform-looking position costs more than a constant one
  REQUIRE(baseline.bits_per_dim(set, {1}) == Approx(expected).epsilon(1e-12));
}

namespace {

// Whether `out` (rows x cols) is `in` mirrored (if asked) then moved by (dy, dx), background 0.
bool is_moved_copy(const std::uint8_t* in, const std::uint8_t* out, std::size_t rows, std::size_t cols, bool mirror,
                   int dy, int dx) {
  for (int y = 0; y < int(rows); ++y)
    for (int x = 0; x < int(cols); ++x) {
      const int sy = y - dy, sx = (mirror ? int(cols) - 1 - x : x) - dx;
      const bool inside = sy >= 0 && sy < int(rows) && sx >= 0 && sx < int(cols);
      if (out[y * cols + x] != (inside ? in[sy * cols + sx] : 0)) return false;
    }
  return true;
}

}  // namespace

TEST_CASE("pixel_data: augmented images are mirrored and shifted copies, labels kept", "[examples][pixels]") {
  ImageSet set = ramp_images(3, 5, 6);
  for (std::size_t i = 0; i < set.pixels.size(); ++i) set.pixels[i] = std::uint8_t(1 + i % 250);  // no zero pixels
  set.labels = {4, 7, 9};
  Rng rng(3);
  const std::vector<std::size_t> pick{2, 0, 1, 2, 1, 0, 2, 2};
  int mirrored = 0, moved = 0;
  for (int round = 0; round < 20; ++round) {
    const ImageSet out = augmented_images(set, pick, parse_augmentation("flip+shift", 2), rng);
    REQUIRE(out.count == pick.size());
    REQUIRE(out.rows == 5);
    REQUIRE(out.cols == 6);
    for (std::size_t b = 0; b < pick.size(); ++b) {
      REQUIRE(out.labels[b] == set.labels[pick[b]]);
      // exactly one (mirror, dy, dx) within the limits explains the output
      int explanations = 0;
      for (int mirror = 0; mirror < 2; ++mirror)
        for (int dy = -2; dy <= 2; ++dy)
          for (int dx = -2; dx <= 2; ++dx)
            if (is_moved_copy(set.image(pick[b]), out.image(b), 5, 6, mirror, dy, dx)) {
              ++explanations;
              mirrored += mirror;
              moved += dy != 0 || dx != 0;
            }
      REQUIRE(explanations == 1);
    }
  }
  // 160 draws: both kinds of variation happen, and not always
  REQUIRE(mirrored > 40);
  REQUIRE(mirrored < 120);
  REQUIRE(moved > 100);
  REQUIRE(moved < 160);

  // "none" copies; "flip" never shifts
  const ImageSet same = augmented_images(set, {1}, parse_augmentation("none", 2), rng);
  REQUIRE(is_moved_copy(set.image(1), same.image(0), 5, 6, false, 0, 0));
  for (int round = 0; round < 10; ++round) {
    const ImageSet flipped = augmented_images(set, {0}, parse_augmentation("flip", 2), rng);
    REQUIRE((is_moved_copy(set.image(0), flipped.image(0), 5, 6, false, 0, 0) ||
             is_moved_copy(set.image(0), flipped.image(0), 5, 6, true, 0, 0)));
  }
  REQUIRE(augmentation_name(parse_augmentation("shift", 1)) == "shift");
  REQUIRE(augmentation_name(parse_augmentation("flip+shift", 3)) == "flip+shift");
  REQUIRE(augmentation_name(parse_augmentation("none", 3)) == "none");
  REQUIRE_THROWS_WITH(parse_augmentation("rotate", 1), Contains("'rotate'"));
  REQUIRE_THROWS_WITH(parse_augmentation("shift", 0), Contains("at least 1 pixel"));
  REQUIRE_THROWS_WITH(augmented_images(set, {0}, parse_augmentation("shift", 5), rng), Contains("5 pixels") && Contains("5x6"));
  REQUIRE_THROWS_WITH(augmented_images(set, {3}, parse_augmentation("flip", 1), rng), Contains("image index 3"));
}
