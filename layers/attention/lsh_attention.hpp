// Reformer-style LSH attention (Kitaev et al. 2020), shared-QK: queries attend to keys that hash
// to the same bucket, in chunks, so a query sees at most 2c keys per round instead of L.
//   qk [..., L, d] (queries; keys are the normalised queries k_j = q_j / |q_j|), v [..., L, dv]
//   rotations R [n_r, d, b/2] (random, fixed: drawn from the layer's seed)
// Per hash round r:
//   bucket_i = argmax([q_i R_r, -q_i R_r])            (in [0, b); b = 1: one bucket, no hashing)
//   sort positions by (bucket, position); each bucket's run is cut into chunks of c; a query
//   attends to the keys of its chunk and of the previous chunk of the same bucket that are
//     in its bucket, not padded, not later (causal), and not itself unless nothing else is left
//   s_ij = q_i . k_j / sqrt(d),  o_i^r = sum_j softmax_j(s_ij) v_j,  lse_i^r = log sum_j e^{s_ij}
// Rounds combine by their log-sum-exps: out_i = sum_r w_i^r o_i^r, w_i^r = softmax_r(lse_i^r),
// which is softmax attention over the union of the rounds' key sets (a key found by several
// rounds counts once per round; no correction for duplicates), rather than an average that
// would weigh a round with poor matches as much as one with good ones.
// Why chunks per bucket (not chunks of the whole sorted sequence): a chunk then never mixes
// buckets, and which keys a query sees depends only on the tokens before it in its bucket, so the
// causal form is truly causal (with chunks of the whole sequence, later tokens hashing into lower
// buckets would shift the chunk boundaries of earlier ones). The cost is up to b - 1 partly
// filled chunks per round. A query with no key left gets a zero output.
// Hashing and sorting are index computations (no gradient); the attention itself is built from
// engine ops (gather_rows, batched matmul, masked_fill, softmax), so backward is autodiff.
// Time and memory O(n_r L c (d + dv)).
// Tests: tests/layers/attention/test_lsh_attention.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/core/tensor.hpp"
#include "layers/module.hpp"

namespace pf {

struct LshOptions {
  std::size_t buckets = 8;  // b: 1, or even >= 2
  std::size_t rounds = 2;   // n_r hash rounds
  std::size_t chunk = 32;   // c: queries per chunk
};

// Throws std::invalid_argument naming the bad value.
void check_lsh_options(const LshOptions& options);

// The bucket of every row in every round: qk [..., L, d] -> [..., n_r, L]. rotations [n_r, d, b/2]
// (unused when b = 1: every bucket is 0).
template <class T>
Indices lsh_buckets(const Tensor<T>& qk, const Tensor<T>& rotations, const LshOptions& options);

// key_padding (optional, nonzero = padded) is [lead..., L] as in exact_attention.hpp.
template <class T>
Tensor<T> lsh_attention(const Tensor<T>& qk, const Tensor<T>& v, const Tensor<T>& rotations, const LshOptions& options,
                        bool causal, const Mask* key_padding = nullptr);

// The rotations of one layer as the buffer "rotations" [n_r, d, b/2], N(0, 1) from `seed` (none
// when b = 1). Throws std::invalid_argument for bad options or d = 0.
template <class T>
class LshAttention : public Module<T> {
 public:
  LshAttention(std::size_t head_width, const LshOptions& options, bool causal, std::uint64_t seed);

  Tensor<T> forward(const Tensor<T>& qk, const Tensor<T>& v, const Mask* key_padding = nullptr) const {
    return lsh_attention(qk, v, rotations_, options_, causal_, key_padding);
  }
  const Tensor<T>& rotations() const { return rotations_; }
  const LshOptions& options() const { return options_; }

 private:
  LshOptions options_;
  bool causal_;
  Tensor<T> rotations_;
};

}  // namespace pf
