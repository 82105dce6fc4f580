// Seeded, portable random numbers (xoshiro256** seeded through splitmix64).
// The state is four 64-bit words, so it can be saved in a checkpoint and restored exactly;
// normals use Box-Muller written here, so a seed gives the same numbers with any standard library.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "engine/core/tensor.hpp"

namespace pf {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0x5eed);
  void seed(std::uint64_t seed);

  std::uint64_t next_u64();
  // Uniform in [0, 1).
  double uniform();
  // Uniform integer in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n);
  // Standard normal.
  double normal();

  using State = std::array<std::uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

  // Moves the state as 2^128 calls of next_u64 would: repeated jumps from one state give
  // streams that do not overlap (one per data-parallel rank, say). A jump commutes with drawing:
  // jumping then drawing n values leaves the state that drawing n then jumping leaves.
  void jump();

 private:
  State s_{};
};

namespace detail {
// p(T) applied to a state, for the generator's transition T (one next_u64) and the polynomial p
// over GF(2) whose coefficient of T^b is bit b % 64 of word b / 64: the XOR of the states after b
// steps, over the set bits b. A single bit b is b steps; Rng::jump is one published polynomial.
Rng::State apply_step_polynomial(const Rng::State& state, const std::array<std::uint64_t, 4>& polynomial);
}  // namespace detail

// "w0,w1,w2,w3" in decimal, for checkpoint metadata; the parse throws std::invalid_argument
// naming the text if it is not four unsigned 64-bit numbers.
std::string rng_state_to_string(const Rng::State& state);
Rng::State rng_state_from_string(const std::string& text);

// Arrays / tensors of random numbers.
template <class T>
Array<T> randn_array(const Shape& shape, Rng& rng, T stddev = T(1));
template <class T>
Array<T> rand_uniform_array(const Shape& shape, Rng& rng, T low, T high);
template <class T>
Tensor<T> randn(const Shape& shape, Rng& rng, T stddev = T(1), bool requires_grad = false);
template <class T>
Tensor<T> rand_uniform(const Shape& shape, Rng& rng, T low, T high, bool requires_grad = false);

}  // namespace pf
