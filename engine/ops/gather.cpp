#include "engine/ops/gather.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {

template <class T>
Tensor<T> gather_rows(const Tensor<T>& x, const Indices& index) {
  const OpTimer timer("gather_rows");
  const Shape xs = x.shape(), is = to_shape(index.shape());
  if (xs.size() < 2 || is.size() != xs.size() - 1 || !std::equal(is.begin(), is.end() - 1, xs.begin()))
    throw std::invalid_argument(fmt::format("gather_rows: x {} must be [N..., L, d] and index {} [N..., n] with the "
                                            "same leading axes",
                                            shape_str(xs), shape_str(is)));
  const std::size_t L = xs[xs.size() - 2], d = xs.back(), n = is.back();
  const std::size_t slices = shape_numel(Shape(is.begin(), is.end() - 1));
  const std::int64_t* id = index.data();
  for (std::size_t p = 0; p < index.size(); ++p)
    if (id[p] < 0 || std::size_t(id[p]) >= L)
      throw std::invalid_argument(fmt::format("gather_rows: index {} at position {} is out of range for L = {} rows "
                                              "(x {})",
                                              id[p], shape_str(unravel_index(p, is)), L, shape_str(xs)));
  Shape out_shape = is;
  out_shape.push_back(d);
  Array<T> out = empty_array<T>(out_shape);
  parallel_for(slices, [&](std::size_t s) {
    for (std::size_t i = 0; i < n && d > 0; ++i)
      std::memcpy(out.data() + (s * n + i) * d, x.data() + (s * L + std::size_t(id[s * n + i])) * d, d * sizeof(T));
  });
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(out));
  auto nx = x.node();
  auto saved = std::make_shared<Indices>(index);
  return make_result<T>(std::move(out), "gather_rows", {x},
                        [nx, saved, slices, L, d, n](const Array<T>& g, const Array<T>&) {
    T* dx = nx->grad_buffer().data();
    const std::int64_t* id = saved->data();
    parallel_for(slices, [&](std::size_t s) {  // slices own disjoint rows of dx
      for (std::size_t i = 0; i < n; ++i) {
        T* dst = dx + (s * L + std::size_t(id[s * n + i])) * d;
        const T* src = g.data() + (s * n + i) * d;
        for (std::size_t c = 0; c < d; ++c) dst[c] += src[c];
      }
    });
  });
}

template <class T>
Tensor<T> take_along_last_axis(const Tensor<T>& x, const Indices& index) {
  const OpTimer timer("take_along_last_axis");
  const Shape xs = x.shape(), is = to_shape(index.shape());
  if (xs.empty() || is.size() != xs.size() - 1 || !std::equal(is.begin(), is.end(), xs.begin()))
    throw std::invalid_argument(fmt::format("take_along_last_axis: x {} must be [..., n] and index {} [...] with the "
                                            "same leading axes",
                                            shape_str(xs), shape_str(is)));
  const std::size_t n = xs.back(), rows = index.size();
  const std::int64_t* id = index.data();
  for (std::size_t p = 0; p < rows; ++p)
    if (id[p] < 0 || std::size_t(id[p]) >= n)
      throw std::invalid_argument(fmt::format("take_along_last_axis: index {} at position {} is out of range for a last "
                                              "axis of {} (x {})",
                                              id[p], shape_str(unravel_index(p, is)), n, shape_str(xs)));
  Array<T> out = empty_array<T>(is);
  for (std::size_t p = 0; p < rows; ++p) out.data()[p] = x.data()[p * n + std::size_t(id[p])];
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(out));
  auto nx = x.node();
  auto saved = std::make_shared<Indices>(index);
  return make_result<T>(std::move(out), "take_along_last_axis", {x},
                        [nx, saved, n](const Array<T>& g, const Array<T>&) {
    T* dx = nx->grad_buffer().data();
    const std::int64_t* id = saved->data();
    for (std::size_t p = 0; p < saved->size(); ++p) dx[p * n + std::size_t(id[p])] += g.data()[p];
  });
}

template Tensor<float> take_along_last_axis<float>(const Tensor<float>&, const Indices&);
template Tensor<double> take_along_last_axis<double>(const Tensor<double>&, const Indices&);
template Tensor<float> gather_rows<float>(const Tensor<float>&, const Indices&);
template Tensor<double> gather_rows<double>(const Tensor<double>&, const Indices&);

}  // namespace pf
