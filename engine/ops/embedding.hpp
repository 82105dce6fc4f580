// Embedding lookup: rows of a table picked by integer ids.
#pragma once

#include "engine/core/tensor.hpp"

namespace pf {

// table [V, D], ids of any shape with values in [0, V) -> ids.shape + [D].
// Backward scatter-adds each output row's gradient into its table row (repeated ids add up).
template <class T> Tensor<T> embedding(const Tensor<T>& table, const Indices& ids);

}  // namespace pf
