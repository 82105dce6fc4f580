// How far a trained FAVOR model's attention is from exact softmax attention on its own inputs:
// per layer, with the queries, keys and values the layer computes from held-out input,
//
//   relative error = || FAVOR(Q, K, V) - softmax(Q K^T / sqrt(d)) V ||_F / || softmax(Q K^T / sqrt(d)) V ||_F
//
// over the batch's (unpadded) rows, all heads merged, before the output projection; once with the
// model's current random projection W and once after a redraw (the next W the layer's own
// generator would draw). The Performer paper's question behind redrawing: does training adapt the
// model to one draw of W, so that a fresh draw is worse, or does a redrawn model not care?
//
// How: for each layer, two twins of its attention module with the layer's weights and buffers, an
// identity output projection (so the twins return the merged heads), one with the layer's FAVOR
// kernel and one with the exact kernel. The twins reuse the layer's own code path (feature maps,
// stabilisers, causal sweeps, rotary positions), and the model itself is not changed.
#pragma once

#include <cstddef>
#include <vector>

#include "layers/attention/multihead_attention.hpp"
#include "models/performer_stack.hpp"

namespace pf::examples {

// Merged heads [B, L, D] of one attention layer on x [B, L, D] (its input, after the block's
// norm), before the output projection.
struct AttentionOutputs {
  Tensor<float> favor, exact;
};
// `redraw`: draw the FAVOR twin's projection once more first (from the layer's generator state).
// Throws std::invalid_argument naming the kernel when the layer has exact attention.
AttentionOutputs attention_outputs(const MultiHeadAttention<float>& layer, const Tensor<float>& x,
                                   const Mask* key_padding, bool redraw);

// Squared norms summed over batches (so several batches give one ratio).
struct LayerAttentionError {
  std::size_t layer = 0;
  double exact_sq = 0;          // || exact ||^2
  double before_sq = 0;         // || favor - exact ||^2 with the model's projection
  double after_sq = 0;          // the same after one redraw
  double before() const;        // relative errors (NaN while exact_sq is 0)
  double after() const;
};

// Adds one batch to `errors` (one entry per block, created on the first call): the stack's
// forward in eval mode, no gradient, each block's attention measured on its own input. ids
// [B, L]; key_padding [B, L] (nonzero = padded) or null; padded rows are left out of the norms.
void add_attention_errors(PerformerStack<float>& stack, const Indices& ids, const Mask* key_padding,
                          std::vector<LayerAttentionError>& errors);

}  // namespace pf::examples
