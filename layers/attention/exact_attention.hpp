// Exact softmax attention with a hand-derived fused backward: the baseline FAVOR+ approximates,
// and the kernel for small models.
//   q, k [..., L, d], v [..., L, dv] (leading axes: batch, heads);  out [..., L, dv]
//   A = softmax(Q K^T / sqrt(d) + mask),  out = A V
// Masks: `causal` drops keys j > i; key_padding (optional, nonzero = padded) is [lead..., L] with
// lead a prefix of the inputs' leading axes, as in favor_attention.hpp. A query with no key left
// gets a zero output.
//
// Memory: rows are processed in blocks of kExactRowBlock queries; only the row log-sum-exps are
// saved (O(L) per slice), and backward recomputes each block's probabilities, so the L x L
// matrix never exists at once (time stays O(L^2 d)).
// Derivation: docs/DERIVATIONS.md#exact-attention
// Tests: tests/layers/attention/test_exact_attention.cpp "exact attention: gradcheck, causal and
// not, with and without padding", "exact attention: fused backward equals autodiff through
// primitives (several row blocks)" (against exact_attention_naive below).
#pragma once

#include <cstddef>

#include "engine/core/tensor.hpp"

namespace pf {

constexpr std::size_t kExactRowBlock = 128;

template <class T>
Tensor<T> exact_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal,
                          const Mask* key_padding = nullptr);

// Twin from primitive ops (matmul, masked_fill, softmax), O(L^2) memory: the test oracle.
// (Masked scores are -1e30, so a query with every key masked averages V instead of giving 0.)
template <class T>
Tensor<T> exact_attention_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal,
                                const Mask* key_padding = nullptr);

}  // namespace pf
