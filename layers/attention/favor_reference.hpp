// Naive FAVOR+ twins, built from primitive ops (matmul, outer products, cumsum, division), so
// autodiff gives their backward: the test oracle for the fused forms of favor_attention.hpp
// (tests/layers/attention/test_favor_attention.cpp, "fused backward equals autodiff through
// primitives") and the baseline of bench/attention_bench.cpp. No key padding mask.
// Shapes: q', k' [..., L, M], v [..., L, dv]; out [..., L, dv].
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// Causal: S_i = cumsum_i K'_i^T V_i [..., L, M, dv], z_i = cumsum_i K'_i; out_i = Q'_i S_i / Q'_i z_i.
// Stores all L prefix states (O(L M dv)): the thing favor_causal beats.
template <class T>
Tensor<T> favor_causal_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v);

// Bidirectional: out = Q' (K'^T V) / Q' (K'^T 1).
template <class T>
Tensor<T> favor_bidirectional_naive(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v);

}  // namespace pf
