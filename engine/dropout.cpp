#include "engine/dropout.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace pf {

// keep_i ~ Bernoulli(1 - p);  y = x * keep / (1 - p);  dx = g * keep / (1 - p)
// Saved for backward: the keep mask, one byte per element.
template <class T>
Tensor<T> dropout(const Tensor<T>& x, double p, Rng& rng, bool training) {
  if (!(p >= 0.0 && p < 1.0))
    throw std::invalid_argument(fmt::format("dropout: p must be in [0, 1), got {}", p));
  if (!training || p == 0.0) return x;
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  // keep iff uniform >= p, with uniform = (u64 >> 11) * 2^-53, compared in integers.
  const std::uint64_t threshold = static_cast<std::uint64_t>(p * 0x1.0p53);
  Mask keep = empty_array<std::uint8_t>(x.shape());
  Array<T> out = empty_array<T>(x.shape());
  const T* px = x.data();
  T* py = out.data();
  std::uint8_t* pk = keep.data();
  for (std::size_t i = 0, n = x.numel(); i < n; ++i) {
    pk[i] = (rng.next_u64() >> 11) >= threshold;
    py[i] = pk[i] ? px[i] * scale : T(0);
  }
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(out));
  auto nx = x.node();
  return make_result<T>(std::move(out), "dropout", {x},
                        [nx, scale, keep = std::move(keep)](const Array<T>& g, const Array<T>&) {
    T* dx = nx->grad_buffer().data();
    const T* pg = g.data();
    const std::uint8_t* pk = keep.data();
    for (std::size_t i = 0, n = g.size(); i < n; ++i) dx[i] += pk[i] ? pg[i] * scale : T(0);
  });
}

template Tensor<float> dropout<float>(const Tensor<float>&, double, Rng&, bool);
template Tensor<double> dropout<double>(const Tensor<double>&, double, Rng&, bool);

}  // namespace pf
