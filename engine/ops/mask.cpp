#include "engine/ops/mask.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/ops/broadcast.hpp"

namespace pf {
namespace {

// Calls f(i, masked) for every element i of an array of shape xs, with the mask (of shape ms,
// broadcast to xs) read alongside.
template <class F>
void for_each_masked(const Shape& xs, const Shape& ms, const std::uint8_t* pm, F f) {
  if (ms == xs) {
    for (std::size_t i = 0, n = shape_numel(xs); i < n; ++i) f(i, pm[i] != 0);
    return;
  }
  detail::for_each_broadcast(xs, detail::broadcast_strides(xs, xs), detail::broadcast_strides(ms, xs),
                             [&](std::size_t i, std::size_t, std::size_t im) { f(i, pm[im] != 0); });
}

}  // namespace

// y = mask ? value : x;  dx = mask ? 0 : g   (mask broadcast to x's shape)
template <class T>
Tensor<T> masked_fill(const Tensor<T>& x, const Mask& mask, T value) {
  const OpTimer timer("masked_fill");
  const Shape xs = x.shape(), ms = to_shape(mask.shape());
  bool fits = ms.size() <= xs.size();
  for (std::size_t k = 0; fits && k < ms.size(); ++k) {
    const std::size_t m = ms[ms.size() - 1 - k], d = xs[xs.size() - 1 - k];
    fits = m == d || m == 1;
  }
  if (!fits)
    throw std::invalid_argument(fmt::format("masked_fill: mask of shape {} does not broadcast to x of shape {}",
                                            shape_str(ms), shape_str(xs)));
  Array<T> out = empty_array<T>(xs);
  const T* px = x.data();
  T* py = out.data();
  for_each_masked(xs, ms, mask.data(), [&](std::size_t i, bool masked) { py[i] = masked ? value : px[i]; });
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(out));
  auto nx = x.node();
  return make_result<T>(std::move(out), "masked_fill", {x}, [nx, xs, ms, mask](const Array<T>& g, const Array<T>&) {
    T* dx = nx->grad_buffer().data();
    const T* pg = g.data();
    for_each_masked(xs, ms, mask.data(), [&](std::size_t i, bool masked) { dx[i] += masked ? T(0) : pg[i]; });
  });
}

Mask causal_mask(std::size_t L) {
  Mask m = empty_array<std::uint8_t>({L, L});
  std::uint8_t* p = m.data();
  for (std::size_t i = 0; i < L; ++i)
    for (std::size_t j = 0; j < L; ++j) p[i * L + j] = j > i;
  return m;
}

template Tensor<float> masked_fill<float>(const Tensor<float>&, const Mask&, float);
template Tensor<double> masked_fill<double>(const Tensor<double>&, const Mask&, double);

}  // namespace pf
