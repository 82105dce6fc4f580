// Dropout as a module: active in training mode, the identity in eval mode.
//
// Owns its random generator (seeded at construction), so a model's dropout masks are
// reproducible; rng_state()/set_rng_state() let a checkpoint save and restore it (e.g. as text
// metadata with rng_state_to_string), so resumed training draws the same masks.
#pragma once

#include <cstdint>

#include "engine/core/random.hpp"
#include "layers/module.hpp"

namespace pf {

template <class T>
class Dropout : public Module<T> {
 public:
  // p in [0, 1): the probability of zeroing an element.
  explicit Dropout(double p, std::uint64_t seed = 0x0d50);

  // Inverted dropout (survivors scaled by 1/(1-p)) when is_training(), else x itself.
  // Not const: each call advances the generator.
  Tensor<T> forward(const Tensor<T>& x);
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }

  double p() const { return p_; }
  Rng::State rng_state() const { return rng_.state(); }
  void set_rng_state(const Rng::State& state) { rng_.set_state(state); }

 private:
  double p_;
  Rng rng_;
};

}  // namespace pf
