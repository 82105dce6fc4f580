// The shape of a Performer model: everything needed to rebuild it, saved as JSON in checkpoint
// metadata so a checkpoint alone is enough to sample from or resume.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pf {

struct PerformerConfig {
  std::size_t vocab = 256;       // V (bytes for text)
  std::size_t width = 128;       // D
  std::size_t depth = 4;         // number of blocks
  std::size_t heads = 4;         // H; d = D / H
  std::size_t ff_hidden = 512;   // feed-forward hidden width
  std::size_t context = 256;     // longest sequence (learned positions need it)
  // Attention kernel: "exact", "favor-positive", "favor-hyperbolic", "favor-trig", "favor-relu".
  std::string attention = "favor-positive";
  std::size_t features = 64;     // m random features per head (FAVOR kernels)
  bool orthogonal = true;        // orthogonal (true) or iid random features
  std::size_t redraw_interval = 0;  // redraw features every N training steps (0 = never)
  // Positions: "learned", "sinusoidal", "rotary" or "none".
  std::string positions = "learned";
  double dropout = 0.0;
  bool tie_embeddings = true;    // output head shares the token embedding
  bool causal = true;            // decoder (LM) or encoder
  std::uint64_t seed = 1;        // initialisation and random features

  // Throws std::invalid_argument naming the field and value if the combination is unusable.
  void validate() const;
  std::string to_json() const;
  // Missing fields keep their defaults; unknown fields and bad values throw naming them.
  static PerformerConfig from_json(const std::string& json);
  std::size_t head_width() const { return width / heads; }
};

}  // namespace pf
