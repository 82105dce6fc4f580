#include "layers/attention/random_projection.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace pf {

std::string projection_kind_name(ProjectionKind kind) {
  return kind == ProjectionKind::iid ? "iid" : "orthogonal";
}

ProjectionKind parse_projection_kind(const std::string& name) {
  if (name == "iid") return ProjectionKind::iid;
  if (name == "orthogonal" || name == "ortho") return ProjectionKind::orthogonal;
  throw std::invalid_argument(fmt::format("projection: unknown kind \"{}\" (use iid or orthogonal)", name));
}

namespace {

void check_dims(std::size_t m, std::size_t d, const char* op) {
  if (m == 0 || d == 0)
    throw std::invalid_argument(fmt::format("{}: shape [{},{}] needs m > 0 and d > 0", op, m, d));
}

// A d x d matrix with orthonormal rows: modified Gram-Schmidt of Gaussian rows, run twice
// ("twice is enough") so the rows stay orthogonal to ~1e-15 in double.
std::vector<double> orthonormal_block(std::size_t d, Rng& rng) {
  std::vector<double> q(d * d);
  for (double& x : q) x = rng.normal();
  for (std::size_t i = 0; i < d; ++i) {
    double* qi = &q[i * d];
    for (int pass = 0; pass < 2; ++pass)
      for (std::size_t j = 0; j < i; ++j) {
        const double* qj = &q[j * d];
        double dot = 0;
        for (std::size_t t = 0; t < d; ++t) dot += qi[t] * qj[t];
        for (std::size_t t = 0; t < d; ++t) qi[t] -= dot * qj[t];
      }
    double norm = 0;
    for (std::size_t t = 0; t < d; ++t) norm += qi[t] * qi[t];
    norm = std::sqrt(norm);
    for (std::size_t t = 0; t < d; ++t) qi[t] /= norm;
  }
  return q;
}

}  // namespace

template <class T>
Array<T> draw_gaussian_projection(std::size_t m, std::size_t d, Rng& rng) {
  check_dims(m, d, "draw_gaussian_projection");
  return randn_array<T>({m, d}, rng);
}

template <class T>
Array<T> draw_orthogonal_projection(std::size_t m, std::size_t d, Rng& rng, RowNorm row_norm) {
  check_dims(m, d, "draw_orthogonal_projection");
  Array<T> w = empty_array<T>({m, d});
  for (std::size_t row0 = 0; row0 < m; row0 += d) {
    const std::vector<double> block = orthonormal_block(d, rng);
    const std::size_t rows = std::min(d, m - row0);  // the last block may be partial
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t t = 0; t < d; ++t) w(row0 + r, t) = static_cast<T>(block[r * d + t]);
  }
  // Row norms: chi(d) = the norm of a fresh Gaussian vector, or the constant sqrt(d).
  for (std::size_t r = 0; r < m; ++r) {
    double norm = std::sqrt(double(d));
    if (row_norm == RowNorm::chi) {
      double sq = 0;
      for (std::size_t t = 0; t < d; ++t) {
        const double g = rng.normal();
        sq += g * g;
      }
      norm = std::sqrt(sq);
    }
    for (std::size_t t = 0; t < d; ++t) w(r, t) = static_cast<T>(w(r, t) * norm);
  }
  return w;
}

template <class T>
Array<T> draw_projection(const ProjectionSpec& spec, Rng& rng) {
  return spec.kind == ProjectionKind::iid ? draw_gaussian_projection<T>(spec.m, spec.d, rng)
                                          : draw_orthogonal_projection<T>(spec.m, spec.d, rng, spec.row_norm);
}

template <class T>
Array<T> encode_rng_state(const Rng::State& state) {
  Array<T> out = empty_array<T>({16});
  for (std::size_t w = 0; w < 4; ++w)
    for (std::size_t k = 0; k < 4; ++k) out(w * 4 + k) = static_cast<T>((state[w] >> (16 * k)) & 0xffffu);
  return out;
}

template <class T>
Rng::State decode_rng_state(const Array<T>& encoded) {
  if (encoded.size() != 16)
    throw std::invalid_argument(
        fmt::format("decode_rng_state: expected 16 values, got shape {}", shape_str(to_shape(encoded.shape()))));
  Rng::State state{};
  for (std::size_t w = 0; w < 4; ++w)
    for (std::size_t k = 0; k < 4; ++k) {
      const double piece = static_cast<double>(encoded.data()[w * 4 + k]);
      if (!(piece >= 0 && piece <= 65535 && piece == std::floor(piece)))
        throw std::invalid_argument("decode_rng_state: values must be whole numbers in [0, 65535]");
      state[w] |= static_cast<std::uint64_t>(piece) << (16 * k);
    }
  return state;
}

template <class T>
RandomProjection<T>::RandomProjection(const ProjectionSpec& spec, std::uint64_t seed) : spec_(spec) {
  check_dims(spec.m, spec.d, "RandomProjection");
  matrix_ = Tensor<T>(filled_array<T>({spec.m, spec.d}, T(0)));
  state_ = Tensor<T>(encode_rng_state<T>(Rng(seed).state()));
  redraw();
}

template <class T>
void RandomProjection<T>::redraw() {
  Rng rng;
  rng.set_state(decode_rng_state(state_.value()));
  Array<T> w = draw_projection<T>(spec_, rng);
  std::copy(w.begin(), w.end(), matrix_.value().begin());  // in place: holders keep seeing W
  state_.value() = encode_rng_state<T>(rng.state());
}

#define PF_INSTANTIATE(T)                                                                    \
  template Array<T> draw_gaussian_projection<T>(std::size_t, std::size_t, Rng&);            \
  template Array<T> draw_orthogonal_projection<T>(std::size_t, std::size_t, Rng&, RowNorm); \
  template Array<T> draw_projection<T>(const ProjectionSpec&, Rng&);                         \
  template Array<T> encode_rng_state<T>(const Rng::State&);                                  \
  template Rng::State decode_rng_state<T>(const Array<T>&);                                  \
  template class RandomProjection<T>;
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
