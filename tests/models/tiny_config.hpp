// Small Performer configurations for the model tests: the sizes given, every other field at its default.
#pragma once

#include <cstddef>

#include "models/performer_config.hpp"

namespace pf::test {

// A PerformerConfig with these sizes (vocab V, width D, blocks, heads H, feed-forward, context, features m).
inline PerformerConfig sized_config(std::size_t vocab, std::size_t width, std::size_t depth, std::size_t heads,
                                    std::size_t ff_hidden, std::size_t context, std::size_t features) {
  PerformerConfig c{vocab, width, depth, heads, ff_hidden, context};  // its first six fields, in declaration order
  c.features = features;
  return c;
}

}  // namespace pf::test
