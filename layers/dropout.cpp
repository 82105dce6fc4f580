#include "layers/dropout.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/dropout.hpp"
#include "layers/attention/random_projection.hpp"  // encode_rng_state, decode_rng_state

namespace pf {

template <class T>
Dropout<T>::Dropout(double p, std::uint64_t seed) : p_(p) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument(fmt::format("Dropout: p must be in [0, 1), got {}", p));
  rng_state_ = this->register_buffer(kStateBuffer, Tensor<T>(encode_rng_state<T>(Rng(seed).state())));
}

template <class T>
Tensor<T> Dropout<T>::forward(const Tensor<T>& x) {
  Rng rng;
  rng.set_state(rng_state());
  Tensor<T> y = dropout(x, p_, rng, this->is_training());
  set_rng_state(rng.state());
  return y;
}

template <class T>
Rng::State Dropout<T>::rng_state() const {
  return decode_rng_state(rng_state_.value());
}

template <class T>
void Dropout<T>::set_rng_state(const Rng::State& state) {
  rng_state_.value() = encode_rng_state<T>(state);
}

template <class T>
void jump_dropout_generators(Module<T>& model, std::size_t jumps) {
  if (jumps == 0) return;
  if (auto* dropout = dynamic_cast<Dropout<T>*>(&model)) {
    Rng rng;
    rng.set_state(dropout->rng_state());
    for (std::size_t i = 0; i < jumps; ++i) rng.jump();
    dropout->set_rng_state(rng.state());
  }
  for (const auto& [name, child] : model.named_children()) jump_dropout_generators(*child, jumps);
}

template class Dropout<float>;
template class Dropout<double>;
template void jump_dropout_generators<float>(Module<float>&, std::size_t);
template void jump_dropout_generators<double>(Module<double>&, std::size_t);

}  // namespace pf
