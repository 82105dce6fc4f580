#include "engine/ops/dropout.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"

namespace pf {

// keep_i ~ Bernoulli(1 - p);  y = x * keep / (1 - p);  dx = g * keep / (1 - p)
// Saved for backward: the keep mask, one byte per element.
template <class T>
Tensor<T> dropout(const Tensor<T>& x, double p, Rng& rng, bool training) {
  const OpTimer timer("dropout");
  if (!(p >= 0.0 && p < 1.0))
    throw std::invalid_argument(fmt::format("dropout: p must be in [0, 1), got {}", p));
  if (!training || p == 0.0) return x;
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  // Each 64-bit draw decides two elements, one 32-bit half each: keep iff half >= p 2^32.
  const std::uint64_t threshold = static_cast<std::uint64_t>(p * 0x1.0p32);
  const std::size_t n = x.numel();
  Mask keep = empty_array<std::uint8_t>(x.shape());
  std::uint8_t* pk = keep.data();
  for (std::size_t i = 0; i < n; i += 2) {
    const std::uint64_t bits = rng.next_u64();
    pk[i] = (bits >> 32) >= threshold;
    if (i + 1 < n) pk[i + 1] = (bits & 0xffffffffu) >= threshold;
  }
  Array<T> out = empty_array<T>(x.shape());
  const T* px = x.data();
  T* py = out.data();
  for (std::size_t i = 0; i < n; ++i) py[i] = px[i] * (scale * static_cast<T>(pk[i]));
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(out));
  auto nx = x.node();
  return make_result<T>(std::move(out), "dropout", {x},
                        [nx, scale, keep = std::move(keep)](const Array<T>& g, const Array<T>&) {
    T* dx = nx->grad_buffer().data();
    const T* pg = g.data();
    const std::uint8_t* pk = keep.data();
    for (std::size_t i = 0, n = g.size(); i < n; ++i) dx[i] += pg[i] * (scale * static_cast<T>(pk[i]));
  });
}

template Tensor<float> dropout<float>(const Tensor<float>&, double, Rng&, bool);
template Tensor<double> dropout<double>(const Tensor<double>&, double, Rng&, bool);

}  // namespace pf
