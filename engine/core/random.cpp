#include "engine/core/random.hpp"

#include <cmath>
#include <stdexcept>

namespace pf {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(std::uint64_t seed_value) { seed(seed_value); }

void Rng::seed(std::uint64_t seed_value) {
  std::uint64_t x = seed_value;
  for (auto& word : s_) word = splitmix64(x);
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

namespace detail {
Rng::State apply_step_polynomial(const Rng::State& state, const std::array<std::uint64_t, 4>& polynomial) {
  Rng stepper;
  stepper.set_state(state);
  Rng::State sum{};
  for (const std::uint64_t word : polynomial)
    for (int bit = 0; bit < 64; ++bit) {
      if (word >> bit & 1) {
        const Rng::State now = stepper.state();
        for (int i = 0; i < 4; ++i) sum[i] ^= now[i];
      }
      stepper.next_u64();
    }
  return sum;
}
}  // namespace detail

// The jump polynomial of xoshiro256 (T^(2^128) reduced modulo the transition's characteristic
// polynomial), as its authors publish it.
void Rng::jump() {
  s_ = detail::apply_step_polynomial(
      s_, {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL, 0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL});
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

std::uint64_t Rng::below(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("Rng::below: n must be positive");
  // Rejection sampling removes the modulo bias.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

double Rng::normal() {
  // Box-Muller; one of the pair is discarded so the state advances a fixed amount per call.
  double u1;
  do u1 = uniform();
  while (u1 <= 0.0);
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::string rng_state_to_string(const Rng::State& state) {
  return std::to_string(state[0]) + "," + std::to_string(state[1]) + "," + std::to_string(state[2]) + "," +
         std::to_string(state[3]);
}

Rng::State rng_state_from_string(const std::string& text) {
  Rng::State state{};
  std::size_t pos = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t end = text.find(',', pos);
    const std::string word = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    const bool last = i == 3;
    if (word.empty() || word.find_first_not_of("0123456789") != std::string::npos || (last != (end == std::string::npos)))
      throw std::invalid_argument("rng state: expected four comma-separated unsigned integers, got '" + text + "'");
    try {
      state[i] = std::stoull(word);
    } catch (const std::exception&) {
      throw std::invalid_argument("rng state: number out of range in '" + text + "'");
    }
    pos = end + 1;
  }
  return state;
}

template <class T>
Array<T> randn_array(const Shape& shape, Rng& rng, T stddev) {
  Array<T> a = empty_array<T>(shape);
  for (T& x : a) x = static_cast<T>(rng.normal()) * stddev;
  return a;
}

template <class T>
Array<T> rand_uniform_array(const Shape& shape, Rng& rng, T low, T high) {
  Array<T> a = empty_array<T>(shape);
  for (T& x : a) x = low + static_cast<T>(rng.uniform()) * (high - low);
  return a;
}

template <class T>
Tensor<T> randn(const Shape& shape, Rng& rng, T stddev, bool requires_grad) {
  return Tensor<T>(randn_array<T>(shape, rng, stddev), requires_grad);
}

template <class T>
Tensor<T> rand_uniform(const Shape& shape, Rng& rng, T low, T high, bool requires_grad) {
  return Tensor<T>(rand_uniform_array<T>(shape, rng, low, high), requires_grad);
}

#define PF_INSTANTIATE(T)                                                        \
  template Array<T> randn_array<T>(const Shape&, Rng&, T);                       \
  template Array<T> rand_uniform_array<T>(const Shape&, Rng&, T, T);             \
  template Tensor<T> randn<T>(const Shape&, Rng&, T, bool);                      \
  template Tensor<T> rand_uniform<T>(const Shape&, Rng&, T, T, bool);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
