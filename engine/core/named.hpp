// Named collections of tensors and arrays: what modules expose, optimizers update, and
// checkpoint files hold. A vector of pairs (not a map) so the order is the registration order,
// which makes files and optimizer state deterministic.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.hpp"

namespace pf {

template <class T>
using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;
template <class T>
using NamedArrays = std::vector<std::pair<std::string, Array<T>>>;

}  // namespace pf
