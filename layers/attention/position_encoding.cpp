#include "layers/attention/position_encoding.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {

const NameTable<PositionKind>& name_table(PositionKind) {
  static const NameTable<PositionKind> table = {{PositionKind::learned, "learned"},
                                                {PositionKind::sinusoidal, "sinusoidal"},
                                                {PositionKind::rotary, "rotary"},
                                                {PositionKind::none, "none"}};
  return table;
}

template <class T>
Array<T> sinusoidal_encoding(std::size_t len, std::size_t width, std::size_t offset) {
  Array<T> e = empty_array<T>({len, width});
  for (std::size_t l = 0; l < len; ++l)
    for (std::size_t j = 0; j < width; ++j) {
      const double freq = std::pow(10000.0, -double(j - j % 2) / double(width));
      const double angle = double(l + offset) * freq;
      e(l, j) = T(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return e;
}

template <class T>
Tensor<T> add_sinusoidal_encoding(const Tensor<T>& x, std::size_t offset) {
  if (x.dim() < 2)
    throw std::invalid_argument(
        fmt::format("add_sinusoidal_encoding: x must be [..., L, D], got {}", shape_str(x.shape())));
  return add(x, Tensor<T>(sinusoidal_encoding<T>(x.size(-2), x.size(-1), offset)));
}

namespace {

// Rotate every pair of x [n rows of L x d] by sign * l theta_i (in place into y).
template <class T>
void rotate(const T* x, T* y, std::size_t rows, std::size_t len, std::size_t d, std::size_t offset, T sign,
            bool accumulate) {
  std::vector<T> cs(len * d / 2), sn(len * d / 2);
  for (std::size_t l = 0; l < len; ++l)
    for (std::size_t i = 0; i < d / 2; ++i) {
      const double angle = double(l + offset) * std::pow(10000.0, -2.0 * double(i) / double(d));
      cs[l * d / 2 + i] = T(std::cos(angle));
      sn[l * d / 2 + i] = sign * T(std::sin(angle));
    }
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t l = r % len;
    const T* xr = x + r * d;
    T* yr = y + r * d;
    for (std::size_t i = 0; i < d / 2; ++i) {
      const T c = cs[l * d / 2 + i], s = sn[l * d / 2 + i];
      const T a = xr[2 * i], b = xr[2 * i + 1];
      const T ya = c * a - s * b, yb = s * a + c * b;
      if (accumulate) yr[2 * i] += ya, yr[2 * i + 1] += yb;
      else yr[2 * i] = ya, yr[2 * i + 1] = yb;
    }
  }
}

}  // namespace

template <class T>
Tensor<T> apply_rotary(const Tensor<T>& x, std::size_t offset) {
  const OpTimer timer("apply_rotary");
  if (x.dim() < 2 || x.size(-1) % 2 != 0)
    throw std::invalid_argument(
        fmt::format("apply_rotary: x must be [..., L, d] with d even, got {}", shape_str(x.shape())));
  const std::size_t len = x.size(-2), d = x.size(-1), rows = x.numel() / std::max<std::size_t>(d, 1);
  Array<T> y = empty_array<T>(x.shape());
  if (len > 0) rotate(x.data(), y.data(), rows, len, d, offset, T(1), false);
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(y));
  auto nx = x.node();
  return make_result<T>(std::move(y), "apply_rotary", {x}, [nx, rows, len, d, offset](const Array<T>& g, const Array<T>&) {
    if (len > 0) rotate(g.data(), nx->grad_buffer().data(), rows, len, d, offset, T(-1), true);
  });
}

template <class T>
LearnedPositionEmbedding<T>::LearnedPositionEmbedding(std::size_t max_len, std::size_t width, Rng& rng)
    : max_len_(max_len), width_(width) {
  table_ = this->register_parameter("weight", randn<T>({max_len, width}, rng, T(0.02)));
}

template <class T>
Tensor<T> LearnedPositionEmbedding<T>::forward(const Tensor<T>& x, std::size_t offset) const {
  if (x.dim() < 2 || x.size(-1) != width_ || offset + x.size(-2) > max_len_)
    throw std::invalid_argument(fmt::format(
        "LearnedPositionEmbedding: x {} at offset {} does not fit a table of {} positions of width {}",
        shape_str(x.shape()), offset, max_len_, width_));
  return add(x, slice(table_, 0, offset, offset + x.size(-2)));
}

#define PF_INSTANTIATE(T)                                                              \
  template Array<T> sinusoidal_encoding<T>(std::size_t, std::size_t, std::size_t);     \
  template Tensor<T> add_sinusoidal_encoding<T>(const Tensor<T>&, std::size_t);        \
  template Tensor<T> apply_rotary<T>(const Tensor<T>&, std::size_t);                   \
  template class LearnedPositionEmbedding<T>;
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
