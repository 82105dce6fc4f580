// Masking: replace masked positions by a constant (e.g. -inf-like before a softmax).
#pragma once

#include <cstddef>

#include "engine/core/tensor.hpp"

namespace pf {

// out = mask ? value : x, with the mask broadcast to x's shape (numpy rules; the result always
// has x's shape). The gradient is zero at masked positions and passes through elsewhere.
template <class T> Tensor<T> masked_fill(const Tensor<T>& x, const Mask& mask, T value);

// [L, L] with 1 where key j > query i (the future a causal query must not see), else 0.
Mask causal_mask(std::size_t L);

}  // namespace pf
