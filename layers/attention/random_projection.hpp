// Random projections W [m, d] for random-feature attention (DESIGN.md section 4).
//
//   iid:        every row ~ N(0, I_d).
//   orthogonal: Gaussian d x d blocks, orthonormalised (Gram-Schmidt in double, twice for
//               stability), stacked to m rows; the last m mod d rows come from one more block.
//               Each row is then rescaled to a chi(d)-distributed norm (the norm of a fresh
//               Gaussian d-vector, so every row is still marginally N(0, I_d)) or to sqrt(d).
//
// RandomProjection<T> owns W and the generator state as two constant tensors, so a Module can
// register both as buffers and a checkpoint restores them exactly: the generator state lives in
// the state tensor (the four 64-bit words split into 16-bit pieces, exact even in float), and
// redraw() reads it from there, draws, and writes it back. W is rewritten in place, so any
// holder of matrix() sees the new draw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"

namespace pf {

enum class ProjectionKind { iid, orthogonal };
enum class RowNorm { chi, sqrt_d };  // row norms of orthogonal projections

struct ProjectionSpec {
  std::size_t m = 0;  // rows (random features)
  std::size_t d = 0;  // columns (head width)
  ProjectionKind kind = ProjectionKind::orthogonal;
  RowNorm row_norm = RowNorm::chi;
};

// "iid" / "orthogonal"; parse_projection_kind throws std::invalid_argument on other names.
std::string projection_kind_name(ProjectionKind kind);
ProjectionKind parse_projection_kind(const std::string& name);

// One draw of W [m, d] from `rng`.
template <class T>
Array<T> draw_gaussian_projection(std::size_t m, std::size_t d, Rng& rng);
template <class T>
Array<T> draw_orthogonal_projection(std::size_t m, std::size_t d, Rng& rng, RowNorm row_norm);
template <class T>
Array<T> draw_projection(const ProjectionSpec& spec, Rng& rng);

// The generator state as 16 exact values of T (and back).
template <class T>
Array<T> encode_rng_state(const Rng::State& state);
template <class T>
Rng::State decode_rng_state(const Array<T>& encoded);

template <class T>
class RandomProjection {
 public:
  RandomProjection(const ProjectionSpec& spec, std::uint64_t seed);

  // W [m, d]: a constant tensor (never differentiated); the same node across redraws.
  const Tensor<T>& matrix() const { return matrix_; }
  // Generator state [16] (see encode_rng_state): register it as a buffer to save it.
  const Tensor<T>& state() const { return state_; }
  const ProjectionSpec& spec() const { return spec_; }

  // Draw a new W from the saved generator state (reproducible from seed + number of draws).
  void redraw();

 private:
  ProjectionSpec spec_;
  Tensor<T> matrix_;
  Tensor<T> state_;
};

}  // namespace pf
