// Inverted dropout.
#pragma once

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"

namespace pf {

// Training: each element is zeroed with probability p and the survivors are scaled by 1/(1-p),
// so the expected value is unchanged; the mask is drawn from `rng` (same state, same mask).
// Identity (returns x itself) when !training or p == 0. p must be in [0, 1).
template <class T> Tensor<T> dropout(const Tensor<T>& x, double p, Rng& rng, bool training);

}  // namespace pf
