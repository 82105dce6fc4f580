// Linformer attention (Wang et al. 2020): keys and values are projected along the sequence to k
// rows by learned matrices, so the score matrix is L x k instead of L x L (time and memory
// linear in L for a fixed k). Bidirectional only.
//   q, k [..., L, d], v [..., L, dv] (leading axes: batch, heads);  E, F [k, L_max], L <= L_max
//   K' = E_L K [..., k, d],  V' = F_L V [..., k, dv]   (E_L, F_L: the first L columns)
//   out = softmax(Q K'^T / sqrt(d)) V'                  [..., L, dv]
// E and F are per layer and shared by every head (the paper's "headwise sharing"); slicing to the
// first L columns is what a sequence shorter than L_max padded with zero rows would give.
// Key padding (optional, nonzero = padded, [lead..., L] as in exact_attention.hpp): padded rows of
// K and V are zeroed before projecting. A projected row mixes every position, so there is no score
// left to mask after the projection; zeroing removes the padded positions from every mix, exactly
// as if the sequence stopped before them (the same output as the shorter, unpadded sequence).
// Causal use is refused: every projected row mixes future positions.
// Built from engine ops (slice, masked_fill, matmul, softmax), so backward is autodiff.
// Tests: tests/layers/attention/test_linformer_attention.cpp.
#pragma once

#include <cstddef>

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"
#include "layers/module.hpp"

namespace pf {

template <class T>
Tensor<T> linformer_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& e,
                              const Tensor<T>& f, const Mask* key_padding = nullptr);

// The learned projections E, F [k, L_max] of one layer, as parameters "key_projection" (E) and
// "value_projection" (F), initialised N(0, 1 / L_max) so that a projected row has about the
// scale of one input row. Throws std::invalid_argument for causal use, k = 0 or L_max = 0.
template <class T>
class LinformerAttention : public Module<T> {
 public:
  LinformerAttention(std::size_t projected_length, std::size_t max_length, bool causal, Rng& rng);

  Tensor<T> forward(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding = nullptr) const {
    return linformer_attention(q, k, v, e_, f_, key_padding);
  }
  const Tensor<T>& key_projection() const { return e_; }    // E [k, L_max]
  const Tensor<T>& value_projection() const { return f_; }  // F [k, L_max]

 private:
  Tensor<T> e_, f_;
};

}  // namespace pf
