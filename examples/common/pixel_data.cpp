#include "pixel_data.hpp"

#include <cmath>
#include <cstddef>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

namespace pf::examples {
namespace {

void check_images(const char* op, const ImageSet& set, const std::vector<std::size_t>& images) {
  if (images.empty()) throw std::invalid_argument(fmt::format("{}: no images selected", op));
  for (std::size_t i : images)
    if (i >= set.count)
      throw std::invalid_argument(fmt::format("{}: image index {} is outside the set of {}", op, i, set.count));
}

void check_levels(const char* op, std::size_t levels) {
  if (levels < 2 || levels > 256)
    throw std::invalid_argument(fmt::format("{}: levels must be in [2, 256], got {}", op, levels));
}

}  // namespace

Tensor<float> patch_features(const ImageSet& set, const std::vector<std::size_t>& images, std::size_t patch) {
  check_images("patch_features", set, images);
  if (patch == 0 || set.rows % patch != 0 || set.cols % patch != 0)
    throw std::invalid_argument(fmt::format("patch_features: patch side {} does not divide the {}x{} images", patch,
                                            set.rows, set.cols));
  const std::size_t grid_cols = set.cols / patch, L = (set.rows / patch) * grid_cols, F = patch * patch;
  Array<float> out = empty_array<float>({images.size(), L, F});
  float* o = out.data();
  for (std::size_t b = 0; b < images.size(); ++b) {
    const std::uint8_t* image = set.image(images[b]);
    for (std::size_t l = 0; l < L; ++l) {
      const std::size_t top = (l / grid_cols) * patch, left = (l % grid_cols) * patch;
      for (std::size_t y = 0; y < patch; ++y)
        for (std::size_t x = 0; x < patch; ++x) *o++ = image[(top + y) * set.cols + left + x] * (1.0f / 255.0f);
    }
  }
  return Tensor<float>(std::move(out));
}

Augmentation parse_augmentation(const std::string& name, std::size_t max_shift) {
  const bool flip = name == "flip" || name == "flip+shift", shift = name == "shift" || name == "flip+shift";
  if (!flip && !shift && name != "none")
    throw std::invalid_argument(fmt::format("augmentation must be none, flip, shift or flip+shift, got '{}'", name));
  if (shift && max_shift == 0)
    throw std::invalid_argument(fmt::format("augmentation '{}' needs a maximum shift of at least 1 pixel", name));
  return Augmentation{flip, shift ? max_shift : 0};
}

std::string augmentation_name(const Augmentation& how) {
  if (how.flip && how.max_shift > 0) return "flip+shift";
  if (how.flip) return "flip";
  return how.max_shift > 0 ? "shift" : "none";
}

ImageSet augmented_images(const ImageSet& set, const std::vector<std::size_t>& images, const Augmentation& how,
                          Rng& rng) {
  check_images("augmented_images", set, images);
  const std::size_t rows = set.rows, cols = set.cols;
  if (how.max_shift >= rows || how.max_shift >= cols)
    throw std::invalid_argument(fmt::format("augmented_images: a shift of up to {} pixels leaves nothing of {}x{} images",
                                            how.max_shift, rows, cols));
  ImageSet out;
  out.count = images.size();
  out.rows = rows;
  out.cols = cols;
  out.pixels.assign(out.count * rows * cols, 0);
  out.labels.resize(out.count);
  const auto shift = [&] {
    const std::uint64_t span = 2 * how.max_shift + 1;
    return static_cast<std::ptrdiff_t>(rng.below(span)) - static_cast<std::ptrdiff_t>(how.max_shift);
  };
  for (std::size_t b = 0; b < images.size(); ++b) {
    const bool mirror = how.flip && rng.below(2) == 1;
    const std::ptrdiff_t dy = how.max_shift > 0 ? shift() : 0, dx = how.max_shift > 0 ? shift() : 0;
    const std::uint8_t* in = set.image(images[b]);
    std::uint8_t* o = out.pixels.data() + b * rows * cols;
    // output pixel (y, x) shows input pixel (y - dy, x' - dx), x' = x or its mirror
    for (std::size_t y = 0; y < rows; ++y) {
      const std::ptrdiff_t sy = std::ptrdiff_t(y) - dy;
      if (sy < 0 || sy >= std::ptrdiff_t(rows)) continue;
      for (std::size_t x = 0; x < cols; ++x) {
        const std::ptrdiff_t sx = std::ptrdiff_t(mirror ? cols - 1 - x : x) - dx;
        if (sx >= 0 && sx < std::ptrdiff_t(cols)) o[y * cols + x] = in[sy * cols + sx];
      }
    }
    out.labels[b] = set.labels.empty() ? 0 : set.labels[images[b]];
  }
  return out;
}

Indices pixel_tokens(const ImageSet& set, const std::vector<std::size_t>& images) {
  check_images("pixel_tokens", set, images);
  const std::size_t L = set.image_size();
  Indices out = Indices::from_shape({images.size(), L});
  for (std::size_t b = 0; b < images.size(); ++b)
    for (std::size_t l = 0; l < L; ++l) out.data()[b * L + l] = set.image(images[b])[l];
  return out;
}

std::int64_t quantize_pixel(std::uint8_t pixel, std::size_t levels) {
  return static_cast<std::int64_t>(std::size_t(pixel) * levels / 256);
}

std::uint8_t level_to_pixel(std::int64_t level, std::size_t levels) {
  if (level < 0 || std::size_t(level) >= levels)
    throw std::invalid_argument(fmt::format("level_to_pixel: level {} is outside [0, {})", level, levels));
  return static_cast<std::uint8_t>(std::lround(255.0 * double(level) / double(levels - 1)));
}

PixelSequences quantized_sequences(const ImageSet& set, const std::vector<std::size_t>& images, std::size_t levels) {
  check_images("quantized_sequences", set, images);
  check_levels("quantized_sequences", levels);
  const std::size_t L = set.image_size();
  PixelSequences out{Indices::from_shape({images.size(), L}), Indices::from_shape({images.size(), L})};
  for (std::size_t b = 0; b < images.size(); ++b) {
    const std::uint8_t* image = set.image(images[b]);
    std::int64_t* in = out.inputs.data() + b * L;
    std::int64_t* target = out.targets.data() + b * L;
    in[0] = static_cast<std::int64_t>(levels);
    for (std::size_t l = 0; l < L; ++l) {
      target[l] = quantize_pixel(image[l], levels);
      if (l + 1 < L) in[l + 1] = target[l];
    }
  }
  return out;
}

MarginalBaseline::MarginalBaseline(const ImageSet& train, std::size_t levels)
    : levels_(levels), positions_(train.image_size()) {
  check_levels("MarginalBaseline", levels);
  if (train.count == 0) throw std::invalid_argument("MarginalBaseline: the training set is empty");
  std::vector<double> counts(positions_ * levels_, 1.0);  // add-one smoothing
  for (std::size_t n = 0; n < train.count; ++n)
    for (std::size_t i = 0; i < positions_; ++i) counts[i * levels_ + quantize_pixel(train.image(n)[i], levels_)] += 1;
  log2_prob_.resize(counts.size());
  const double total = double(train.count) + double(levels_);
  for (std::size_t k = 0; k < counts.size(); ++k) log2_prob_[k] = std::log2(counts[k] / total);
}

double MarginalBaseline::bits_per_dim(const ImageSet& set, const std::vector<std::size_t>& images) const {
  check_images("MarginalBaseline::bits_per_dim", set, images);
  if (set.image_size() != positions_)
    throw std::invalid_argument(fmt::format("MarginalBaseline::bits_per_dim: images of {} pixels, the baseline has {}",
                                            set.image_size(), positions_));
  double bits = 0;
  for (std::size_t n : images)
    for (std::size_t i = 0; i < positions_; ++i) bits -= log2_prob_[i * levels_ + quantize_pixel(set.image(n)[i], levels_)];
  return bits / double(images.size() * positions_);
}

std::vector<std::size_t> first_n(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t(0));
  return v;
}

}  // namespace pf::examples
