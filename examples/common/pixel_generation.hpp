// Fashion-MNIST generation's pictures: images sampled from a causal Performer in RNN mode, and
// completions of the top halves of test images, tiled into PNG grids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/random.hpp"
#include "models/performer_lm.hpp"
#include "pixel_data.hpp"

namespace pf::examples {

// Images generated in RNN mode: the first `given` pixels of each row of `prefix` (levels) are fed
// as they are, the rest sampled. prefix [B, L] (ignored when given = 0). Returns pixels [B, L].
std::vector<std::uint8_t> generate_images(const PerformerLM<float>& model, const Indices& prefix, std::size_t B,
                                          std::size_t L, std::size_t given, std::size_t levels, double temperature,
                                          Rng& rng);

struct PngGrids {
  std::size_t levels = 16;
  std::size_t samples = 32;     // images sampled into <png_dir>/fashion_samples.png (0: none)
  std::size_t completions = 8;  // test images whose top half is completed (0: none)
  double temperature = 1.0;
  std::string png_dir = "runs";
  std::uint64_t sample_seed = 7;
};

// Writes fashion_samples.png and fashion_completions.png into o.png_dir and says so; a model
// without RNN-mode generation (exact attention) gets a line saying why there are none.
void write_generation_pngs(const PerformerLM<float>& model, const ImageSet& test, const PngGrids& o);

}  // namespace pf::examples
