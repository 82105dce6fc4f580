#include "pixel_generation.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "png_writer.hpp"
#include "text_sampling.hpp"

namespace pf::examples {

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

void write_generation_pngs(const PerformerLM<float>& model, const ImageSet& test, const PngGrids& o) {
  if (!model.supports_recurrent_generation()) {
    fmt::print("no PNGs: sampling uses the RNN mode of causal FAVOR kernels (attention '{}')\n", model.config().attention);
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
    const PixelSequences truth = quantized_sequences(test, first_n(n), o.levels);
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

}  // namespace pf::examples
