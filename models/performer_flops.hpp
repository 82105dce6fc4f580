// How many floating-point operations a Performer's training step does, from its config alone:
// the numerator of the training programs' achieved GFLOP/s and utilisation (fraction of the FMA
// probe's peak, engine/kernels/peak_probe.hpp), and of the attention benchmark's.
//
// What is counted: the matrix products only, 2 FLOPs per multiply-add; elementwise work (layer
// norm, GELU, softmax, exp of the feature maps, residual adds, biases, Adam) is not. Symbols:
// D width, H heads, d = D / H, F feed-forward hidden width, V vocabulary, L sequence length,
// m random features, M feature-map width (2m for the hyperbolic and trigonometric maps, else m).
// Forward, per token and layer:
//   projections   q, k, v and output: 4 x 2 D^2
//   feed-forward  D -> F -> D: 2 x 2 D F
//   feature maps  (FAVOR) W q and W k per head: 2 x 2 d m x H
//   attention     FAVOR (bidirectional and causal alike: the prefix-sum form makes the same
//                 products, a state update K'_j^T [V_j 1] and a state read Q'_i [S_i z_i] per
//                 token): 2 x 2 M (d + 1) x H. The chunked causal kernel's extra products inside
//                 a chunk are not counted: the count is the algorithm's, not the kernel's.
//                 exact: scores q k^T and P v, 2 x 2 d per attended key and head: L keys per
//                 query when bidirectional, (L + 1) / 2 on average when causal.
//                 linformer: E K and F V ([k, L] [L, d]) and the k-key attention: 4 x 2 k d
//                 per token and head (E, F are learned: backward 2 x as for every product).
//                 reformer: per hash round, each query against the 2c keys of its chunk and
//                 the previous one, 2 x 2 (2c) d; hashing (rotations, d x b/2 per round) is
//                 counted as `hashing`, forward only (bucket choice has no gradient).
// Per token of the model: the input embedding (a gather, 0 FLOPs, for token ids; 2 F_in D for
// feature vectors through a Linear) and the output head (2 D V for a language model; a
// classifier's head 2 D C is counted once per sequence).
// Backward = 2 x forward for every product (one product each for the two operands' gradients),
// except the feature maps' W (a fixed random buffer: only dq, dk) and the input embedding (the
// data needs no gradient: only dW), which take 1 x forward.
#pragma once

#include <cstddef>

#include "models/performer_classifier.hpp"
#include "models/performer_config.hpp"

namespace pf {

// Forward FLOPs by part. known = false: an attention kernel this counter does not know; then
// every total is 0 (callers report no utilisation rather than a wrong one).
struct FlopCount {
  double projections = 0, feed_forward = 0, feature_maps = 0, attention = 0, input_embedding = 0, output_head = 0,
         hashing = 0;
  bool known = true;

  double forward() const;
  double backward() const;  // 2 x forward, feature maps and input embedding 1 x, hashing 0 x
  double training() const { return forward() + backward(); }
  FlopCount& operator+=(const FlopCount& other);
  FlopCount scaled(double factor) const;
};

// One attention head (one batch x head slice) over a whole sequence of `length` tokens, feature
// maps included for FAVOR kernels; `features` is m (FAVOR only), `linformer_k` the projected
// length k (linformer only), `lsh` the buckets, rounds and chunk (reformer only).
FlopCount attention_flops(AttentionKernel kernel, bool causal, std::size_t length, std::size_t head_width,
                          std::size_t features, std::size_t linformer_k = 64, const LshOptions& lsh = {});

// A language model (PerformerLM) on sequences of config.context tokens, per token.
FlopCount lm_flops_per_token(const PerformerConfig& config);

// A classifier (PerformerClassifier) on one sequence of config.context tokens (or feature
// vectors of width input_features), per sequence; a class token lengthens the stack's sequence
// by one.
FlopCount classifier_flops_per_sequence(const PerformerConfig& config, std::size_t classes, Pooling pooling,
                                        std::size_t input_features);

}  // namespace pf
