// Softmax family over the last axis, fused (forward and hand-derived backward in one op each)
// and numerically stable: every row is shifted by its max before exponentiating.
// Derivation: docs/DERIVATIONS.md#softmax-and-cross-entropy
#pragma once

#include <cstdint>

#include "engine/core/tensor.hpp"

namespace pf {

// y = exp(x - max) / sum exp(x - max), per row of the last axis.
template <class T> Tensor<T> softmax(const Tensor<T>& a);
// y = x - max - log sum exp(x - max), per row of the last axis.
template <class T> Tensor<T> log_softmax(const Tensor<T>& a);
// Mean negative log-likelihood of the targets under softmax(logits).
//   logits [..., C]; targets int64 of shape logits.shape[:-1], each in [0, C) or ignore_index.
// The mean is over the positions whose target is not ignore_index; if all are ignored the loss
// is 0 and so are the gradients. Out-of-range targets throw, naming the value and position.
template <class T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const Indices& targets, std::int64_t ignore_index = -100);

}  // namespace pf
