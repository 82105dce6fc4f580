// Dropout as a module: active in training mode, the identity in eval mode.
//
// Owns its random generator (seeded at construction), so a model's dropout masks are
// reproducible. The generator state is a buffer (named "rng_state": the four 64-bit words in
// 16-bit pieces, as RandomProjection keeps its own), so the ordinary state dict saves and
// restores it and resumed training draws the same masks.
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

  static constexpr const char* kStateBuffer = "rng_state";  // the buffer's name

  double p() const { return p_; }
  // The generator state, read from and written to the buffer.
  Rng::State rng_state() const;
  void set_rng_state(const Rng::State& state);

 private:
  double p_;
  Tensor<T> rng_state_;  // buffer [16]
};

// Every Dropout in `model` (its children's too) moves its generator `jumps` jumps ahead
// (Rng::jump). Rank r of a data-parallel run does this r times at the start, so the ranks draw
// different masks for their different rows while holding the same seed; since a jump commutes
// with drawing, a run resumed from rank 0's saved generators gives every rank its own stream back.
template <class T>
void jump_dropout_generators(Module<T>& model, std::size_t jumps);

}  // namespace pf
