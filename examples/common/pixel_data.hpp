// Images as sequences for Performers: patch features or pixel tokens for classification,
// quantized intensities for autoregressive generation, and the per-position marginal baseline.
//   B batch, L sequence length, P patch side, levels = quantization levels (16 by default)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"
#include "fashion_mnist.hpp"

namespace pf::examples {

// Non-overlapping P x P patches in reading order, each a vector of P*P intensities scaled to
// [0, 1]: [B, (rows/P)*(cols/P), P*P]. P must divide both sides.
Tensor<float> patch_features(const ImageSet& set, const std::vector<std::size_t>& images, std::size_t patch);

// Label-preserving variations of training images, drawn anew for every batch so the model
// sees fewer exact repeats over many epochs: a horizontal mirror with probability 1/2 (a
// mirrored shirt or shoe is still a shirt or shoe) and a shift of up to max_shift pixels along
// each axis, the uncovered border filled with background (0).
struct Augmentation {
  bool flip = false;
  std::size_t max_shift = 0;
  bool any() const { return flip || max_shift > 0; }
};
// "none" | "flip" | "shift" | "flip+shift" (shift by up to max_shift); throws
// std::invalid_argument naming the text. augmentation_name is its inverse.
Augmentation parse_augmentation(const std::string& name, std::size_t max_shift);
std::string augmentation_name(const Augmentation& how);

// The selected images, each varied with its own draws from `rng`, as a new set of
// images.size() images (labels kept) in the order given.
ImageSet augmented_images(const ImageSet& set, const std::vector<std::size_t>& images, const Augmentation& how,
                          Rng& rng);

// Raw intensities as token ids in [0, 256): [B, rows*cols].
Indices pixel_tokens(const ImageSet& set, const std::vector<std::size_t>& images);

// Intensity 0..255 -> level 0..levels-1 (equal-width bins), and a level back to the centre
// intensity of its bin's range (0 and 255 for the extreme levels).
std::int64_t quantize_pixel(std::uint8_t pixel, std::size_t levels);
std::uint8_t level_to_pixel(std::int64_t level, std::size_t levels);

// Next-pixel prediction over quantized images in reading order: targets [B, L] are the levels,
// inputs [B, L] the same shifted right by one behind a start token (id = levels), so the model
// predicts pixel t from pixels < t. Vocabulary: levels + 1.
struct PixelSequences {
  Indices inputs, targets;
};
PixelSequences quantized_sequences(const ImageSet& set, const std::vector<std::size_t>& images, std::size_t levels);

// The per-position marginal: p(level at position i) estimated from a training set (add-one
// smoothing), ignoring all other pixels. The baseline any pixel model must beat.
class MarginalBaseline {
 public:
  MarginalBaseline(const ImageSet& train, std::size_t levels);
  // Mean -log2 p over all pixels of `images` (bits per dimension).
  double bits_per_dim(const ImageSet& set, const std::vector<std::size_t>& images) const;

 private:
  std::size_t levels_, positions_;
  std::vector<double> log2_prob_;  // [positions, levels]
};

// 0, 1, ..., n-1
std::vector<std::size_t> first_n(std::size_t n);

}  // namespace pf::examples
