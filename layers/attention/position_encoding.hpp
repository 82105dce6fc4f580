// Position encodings.
//   LearnedPositionEmbedding: x [B, L, D] + P[offset : offset + L], P [max_len, D] a parameter.
//   sinusoidal: x + E, E[l, 2i] = sin(l / 10000^{2i/D}), E[l, 2i+1] = cos(l / 10000^{2i/D}).
//   rotary (RoPE), applied to q and k [..., L, d] before the feature map: each pair
//     (x_{2i}, x_{2i+1}) at position l = offset + row is rotated by the angle l theta_i,
//     theta_i = 10000^{-2i/d}; q.k then depends on positions only through their difference.
#pragma once

#include <cstddef>

#include "engine/core/random.hpp"
#include "layers/module.hpp"
#include "layers/name_table.hpp"

namespace pf {

// How a model knows token positions: a learned table or sinusoids added to the embedding,
// rotary inside attention, or none.
enum class PositionKind { learned, sinusoidal, rotary, none };
// The names: "learned", "sinusoidal", "rotary", "none" (see layers/name_table.hpp).
const NameTable<PositionKind>& name_table(PositionKind);

// E [L, D] (rows offset .. offset + L - 1).
template <class T>
Array<T> sinusoidal_encoding(std::size_t len, std::size_t width, std::size_t offset = 0);
// x [..., L, D] + E.
template <class T>
Tensor<T> add_sinusoidal_encoding(const Tensor<T>& x, std::size_t offset = 0);

// Rotary: y = R(l) x per pair;  dx = R(l)^T dy (a rotation's inverse is its transpose). d even.
template <class T>
Tensor<T> apply_rotary(const Tensor<T>& x, std::size_t offset = 0);

template <class T>
class LearnedPositionEmbedding : public Module<T> {
 public:
  // P ~ N(0, 0.02^2).
  LearnedPositionEmbedding(std::size_t max_len, std::size_t width, Rng& rng);
  // x [B, L, D] (or [L, D]) + P[offset : offset + L]; throws if offset + L > max_len.
  Tensor<T> forward(const Tensor<T>& x, std::size_t offset = 0) const;
  const Tensor<T>& table() const { return table_; }

 private:
  std::size_t max_len_, width_;
  Tensor<T> table_;
};

}  // namespace pf
