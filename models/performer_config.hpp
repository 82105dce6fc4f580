// The shape of a Performer model: everything needed to rebuild it, saved as JSON in checkpoint
// metadata so a checkpoint alone is enough to sample from or resume.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "layers/attention/multihead_attention.hpp"
#include "layers/attention/position_encoding.hpp"

namespace pf {

// The attention kernels a config can name: every kernel of name_table(AttentionKernel) but
// favor-custom, whose feature function is code that a config (and a checkpoint's JSON) cannot hold.
const NameTable<AttentionKernel>& config_attention_kernels();

struct PerformerConfig {
  std::size_t vocab = 256;       // V (bytes for text)
  std::size_t width = 128;       // D
  std::size_t depth = 4;         // number of blocks
  std::size_t heads = 4;         // H; d = D / H
  std::size_t ff_hidden = 512;   // feed-forward hidden width
  std::size_t context = 256;     // longest sequence (learned positions and linformer's E, F need it)
  AttentionKernel attention = AttentionKernel::favor_positive;  // one of config_attention_kernels()
  std::size_t features = 64;     // m random features per head (FAVOR kernels)
  bool orthogonal = true;        // orthogonal (true) or iid random features
  std::size_t redraw_interval = 0;  // redraw features every N training steps (0 = never)
  std::size_t linformer_k = 64;  // linformer: keys and values projected to k rows (E, F [k, context])
  std::size_t lsh_buckets = 8;   // reformer: hash buckets b (1, or even)
  std::size_t lsh_rounds = 2;    // reformer: hash rounds
  std::size_t lsh_chunk = 32;    // reformer: queries per chunk (each sees its chunk and the previous one)
  PositionKind positions = PositionKind::learned;
  double dropout = 0.0;
  bool tie_embeddings = true;    // output head shares the token embedding
  bool causal = true;            // decoder (LM) or encoder
  std::uint64_t seed = 1;        // initialisation and random features

  // Throws std::invalid_argument naming the field and value if the combination is unusable.
  void validate() const;
  // Kernel and positions are written by name (the name tables), so checkpoints stay readable.
  std::string to_json() const;
  // Missing fields keep their defaults; unknown fields and bad values throw naming them (an
  // unknown kernel or position name with the list of valid names).
  static PerformerConfig from_json(const std::string& json);
  std::size_t head_width() const { return width / heads; }
};

}  // namespace pf
