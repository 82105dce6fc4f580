// What a training step of the default text model keeps on the tape, in units of one
// [tokens, width] float activation. The main job must stay under 300 MB of RSS, and this is
// what decides it: at batch 16 x context 256 one unit is 2 MiB.
#include <fmt/format.h>

#include "engine/core/memory.hpp"
#include "models/performer_lm.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

// Tape bytes of one forward of `depth` blocks, per token and per width-sized activation.
double tape_units(std::size_t depth) {
  PerformerConfig c;  // the defaults of train_text (width 128, 4 heads, m = 64, ff 512)
  c.depth = depth;
  c.context = 64;
  PerformerLM<float> model(c);
  const std::size_t B = 2, L = 64;
  Indices ids = Indices::from_shape({B, L}), targets = Indices::from_shape({B, L});
  for (std::size_t i = 0; i < ids.size(); ++i) ids.data()[i] = targets.data()[i] = std::int64_t(i % 251);
  const std::size_t before = memory_stats().live_bytes;
  Tensor<float> loss = model.loss(ids, targets);
  const double bytes = double(memory_stats().live_bytes - before);
  return bytes / double(B * L * c.width * sizeof(float));
}

}  // namespace

TEST_CASE("PerformerLM: activations kept for backward per block stay small", "[models][lm][memory]") {
  const double one = tape_units(1), three = tape_units(3);
  const double per_block = (three - one) / 2;
  INFO(fmt::format("tape per block: {:.1f} width-sized activations (head and loss: {:.1f})", per_block,
                   one - per_block));
  // 19 now: LayerNorms 2, q/k/v 3, features 2 x 2 (m = 64 per head is 2 widths), attention
  // output 1, merged heads 1, output projection 1, residuals 2, feed-forward hidden 4 and
  // output 1. Unfused Linear/GELU/head reshapes kept 39.
  CHECK(per_block <= 20);
}
