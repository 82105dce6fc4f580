// Fixtures shared by the attention tests: padding masks and a user feature function.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "layers/attention/feature_maps.hpp"
#include "test_util.hpp"

namespace pf::test {

// Mask [B, L] with the last `pad[b]` keys of batch b padded.
inline Mask tail_padding(std::size_t batch, std::size_t len, const std::vector<std::size_t>& pad) {
  Mask m = filled_array<std::uint8_t>({batch, len}, 0);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t l = len - pad[b]; l < len; ++l) m(b, l) = 1;
  return m;
}

// A user function for the generalized map: softplus, with its derivative (the logistic).
inline FeatureFunction softplus_fn() {
  FeatureFunction fn;
  fn.name = "softplus";
  fn.f = [](double u) { return std::log1p(std::exp(u)); };
  fn.df = [](double u) { return 1 / (1 + std::exp(-u)); };
  return fn;
}

}  // namespace pf::test
