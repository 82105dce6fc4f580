// FAVOR+ linear attention on feature-mapped queries and keys, with hand-derived backward passes
// (DESIGN.md section 4). Inputs per slice (leading axes = batch, heads, all batched):
//   q' [..., L, M], k' [..., L, M] (from a feature map), v [..., L, dv];  out [..., L, dv].
// One include for all of it: the fused forms below, the RNN step, and the naive twins
// (favor_reference.hpp). One file per form: favor_bidirectional.cpp, favor_causal.cpp,
// favor_causal_chunked.cpp, favor_step.cpp; favor_plan.hpp holds what they share.
//
// Implementation trick used throughout: V1 = [V, 1] (L x (dv+1)), so one product carries both
// the numerator and the denominator: S1 = K'^T V1 = [S, z], Q' S1 = [num, den]. Backward, the same
// trick merges dQ'_i = dnum_i S_i^T + dden_i z_i^T into one product: with dnum1 = [dnum, dden]
// and S1 = [S, z], dQ'_i = dnum1_i S1_i^T.
//
// Key padding mask (optional, nonzero = padded key): shape [lead..., L] where lead is a prefix of
// the inputs' leading axes (e.g. [B, L] for inputs [B, H, L, M]; it is shared by the remaining
// axes). A padded key's row of K' and of V1 is zeroed, so it leaves both numerator AND
// denominator, and it gets zero gradient.
//
// Denominator guard: den is used as sign(den) max(|den|, kFavorDenominatorFloor) (sign(0) = +),
// and where the floor is active den gets no gradient. The floor is 1e-30: far below any
// denominator of positive features in float32 (each is a sum of products of features of size
// ~m^{-1/2} e^{-|x|^2/2}), so it changes nothing there; it only turns an exactly-zero
// denominator (every key padded, underflowed features) into a zero output instead of NaN. Trig
// features can still give huge outputs where den crosses zero: that is the FAVOR instability.
#pragma once

#include <cstddef>

#include "engine/core/tensor.hpp"
#include "layers/attention/favor_reference.hpp"

namespace pf {

constexpr double kFavorDenominatorFloor = 1e-30;
// Default block size of the chunked causal form, chosen by measurement: attention_bench
// --chunk-scan (B=1, H=8, d=64, M=256, float32, 2 threads) had C = 32 fastest or tied at L = 1024
// and 4096 (C = 16 and 64 within noise, 128 ~1.3x and 256 ~1.6x slower at L = 4096); again so with
// the per-block products on small_gemm (C = 16 and 32 tied, 64 ~1.1x, 128 ~1.25x, 256 ~1.7x at
// L = 4096, on a shared machine).
constexpr std::size_t kFavorDefaultChunk = 32;

// Bidirectional: S1 = K'^T V1; [num, den] = Q' S1; out = num / den.
// Derivation: docs/DERIVATIONS.md#favor-bidirectional
// Tests: test_favor_attention.cpp "favor attention: gradcheck, several shapes, with and without
// padding", "favor attention: fused backward equals autodiff through primitives".
template <class T>
Tensor<T> favor_bidirectional(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                              const Mask* key_padding = nullptr);

// Causal, per-token prefix sums: S1_i = sum_{j<=i} K'_j^T V1_j; [num_i, den_i] = Q'_i S1_i.
// Memory-efficient backward: saves q', k', v, den only; rebuilds S1_i in a forward sweep for dQ'
// and accumulates R1_j = sum_{i>=j} Q'_i^T [dnum_i, dden_i] in a reverse sweep for dK', dV.
// Derivation: docs/DERIVATIONS.md#favor-causal
// Tests: test_favor_attention.cpp gradcheck and fused-vs-naive (as above), "favor causal: changing
// later tokens leaves earlier outputs unchanged".
template <class T>
Tensor<T> favor_causal(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Mask* key_padding = nullptr);

// Causal, chunked: blocks of `chunk` tokens; inside a block the masked Q'_b K'_b^T is exact
// (GEMMs), across blocks the state S1 is carried. Same outputs as favor_causal; the backward is
// chunked the same way and equally memory-efficient.
// Derivation: docs/DERIVATIONS.md#favor-causal-chunked
// Tests: test_favor_attention.cpp "favor causal: chunked equals per-token for every chunk size",
// gradcheck and fused-vs-naive (as above).
template <class T>
Tensor<T> favor_causal_chunked(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                               const Mask* key_padding = nullptr, std::size_t chunk = kFavorDefaultChunk);

// Recurrent (RNN-mode) causal attention for generation: the state S1 = [S, z] per slice.
// Each step costs O(M dv) and gives the same output as favor_causal at that position.
// Test: test_favor_attention.cpp "favor causal: recurrent steps equal the full causal output (float32)".
template <class T>
struct FavorCausalState {
  std::size_t slices = 0, features = 0, value_width = 0;  // N, M, dv
  Array<T> s1;                                            // [N, M, dv + 1]
  std::size_t steps = 0;

  FavorCausalState() = default;
  FavorCausalState(std::size_t slices, std::size_t features, std::size_t value_width);
  void reset();
  // Multiply slice n's state by `factor` (to move a running key stabiliser).
  void rescale(std::size_t slice, T factor);
};

// One token: q', k' [..., M], v [..., dv] with N = prod(...) slices; returns out [..., dv].
// key_padded (optional, N entries): a padded token does not enter the state. No gradient.
template <class T>
Tensor<T> favor_causal_step(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, FavorCausalState<T>& state,
                            const std::uint8_t* key_padded = nullptr);

// Prefill (the prompt in one pass): q', k' [..., L, M], v [..., L, dv] with N = prod(...) slices;
// the chunked causal forward started from `state` (S1 of the tokens before), which then holds the
// L tokens more: the same state, and the same outputs, as L favor_causal_steps. No gradient, no
// padding mask. Lives in favor_causal_chunked.cpp (it is that form's forward).
// Test: test_favor_prefill.cpp "favor prefill: state and outputs equal per-token steps".
template <class T>
Tensor<T> favor_causal_prefill(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, FavorCausalState<T>& state,
                               std::size_t chunk = kFavorDefaultChunk);

}  // namespace pf
