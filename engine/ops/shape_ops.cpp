#include "engine/ops/shape_ops.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/broadcast.hpp"

namespace pf {

std::size_t normalize_axis(int axis, const Shape& shape, const char* op) {
  const int rank = static_cast<int>(shape.size());
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw std::invalid_argument(fmt::format("{}: axis {} is out of range for shape {} (rank {})", op,
                                            axis, shape_str(shape), rank));
  return static_cast<std::size_t>(a);
}

Shape unravel_index(std::size_t index, const Shape& shape) {
  Shape coord(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    coord[k] = shape[k] ? index % shape[k] : 0;
    index = shape[k] ? index / shape[k] : 0;
  }
  return coord;
}

namespace {

// Row-major strides of a contiguous array.
std::vector<std::size_t> contiguous_strides(const Shape& shape) {
  std::vector<std::size_t> strides(shape.size(), 1);
  for (std::size_t k = shape.size(); k-- > 1;) strides[k - 1] = strides[k] * shape[k];
  return strides;
}

// Product of the sizes in [from, to).
std::size_t span_numel(const Shape& shape, std::size_t from, std::size_t to) {
  std::size_t n = 1;
  for (std::size_t k = from; k < to; ++k) n *= shape[k];
  return n;
}

// Calls f(out_index, in_index) for every element of permute(in, axes); f may run on several
// threads at once (a permutation writes each index once, so f(i, ia) touching only out[i] and
// in[ia] is safe).
// If the input's contiguous last axis stays last (splitting heads: [B, L, H, d] -> [B, H, L, d]),
// whole rows of it are contiguous on both sides: rows are split over the threads, each walked by
// a tight inner loop. Otherwise reads along one axis are writes along another (a transpose):
// walk 32 x 32 tiles of those two axes, so both sides stay in cache.
template <class F>
void for_each_permuted(const Shape& in_shape, const std::vector<std::size_t>& axes, F f) {
  const std::size_t rank = in_shape.size();
  const std::vector<std::size_t> in_strides = contiguous_strides(in_shape);
  Shape out_shape(rank);
  std::vector<std::size_t> gather(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    out_shape[i] = in_shape[axes[i]];
    gather[i] = in_strides[axes[i]];
  }
  const std::size_t a = rank ? rank - 1 : 0;  // the output's last axis
  const std::size_t b = static_cast<std::size_t>(std::find(axes.begin(), axes.end(), a) - axes.begin());
  if (rank >= 2 && b == a && in_shape.back() > 1) {
    const std::size_t inner = out_shape.back(), rows = shape_numel(out_shape) / std::max<std::size_t>(inner, 1);
    parallel_ranges(rows, rows_per_task(inner), [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        std::size_t rest = r, ia = 0;  // the input offset of output row r
        for (std::size_t ax = rank - 1; ax-- > 0;) {
          ia += (rest % out_shape[ax]) * gather[ax];
          rest /= out_shape[ax];
        }
        for (std::size_t j = 0; j < inner; ++j) f(r * inner + j, ia + j);
      }
    });
    return;
  }
  if (rank < 2 || b == a || in_shape.back() == 1 || out_shape.back() == 1) {
    detail::for_each_broadcast(out_shape, gather, std::vector<std::size_t>(rank, 0),
                               [&](std::size_t i, std::size_t ia, std::size_t) { f(i, ia); });
    return;
  }
  const std::vector<std::size_t> out_strides = contiguous_strides(out_shape);
  Shape outer_shape;
  std::vector<std::size_t> outer_out, outer_in;
  for (std::size_t i = 0; i < rank; ++i)
    if (i != a && i != b) {
      outer_shape.push_back(out_shape[i]);
      outer_out.push_back(out_strides[i]);
      outer_in.push_back(gather[i]);
    }
  const std::size_t na = out_shape[a], nb = out_shape[b], out_b = out_strides[b], in_a = gather[a];
  constexpr std::size_t tile = 32;
  detail::for_each_broadcast(outer_shape, outer_out, outer_in, [&](std::size_t, std::size_t ob, std::size_t ib) {
    for (std::size_t i0 = 0; i0 < nb; i0 += tile)
      for (std::size_t j0 = 0; j0 < na; j0 += tile) {
        const std::size_t i1 = std::min(i0 + tile, nb), j1 = std::min(j0 + tile, na);
        for (std::size_t i = i0; i < i1; ++i)
          for (std::size_t j = j0; j < j1; ++j) f(ob + i * out_b + j, ib + i + j * in_a);
      }
  });
}

std::string axes_str(const std::vector<std::size_t>& axes) {
  std::string s = "(";
  for (std::size_t i = 0; i < axes.size(); ++i) s += (i ? "," : "") + std::to_string(axes[i]);
  return s + ")";
}

template <class T>
Tensor<T> permute_impl(const Tensor<T>& a, const Shape& in_shape, const std::vector<std::size_t>& axes,
                       const Shape* result_shape, const char* op) {
  const OpTimer timer(op);
  const std::size_t rank = in_shape.size();
  std::vector<bool> seen(rank, false);
  bool valid = axes.size() == rank;
  for (std::size_t ax : axes) {
    if (!valid || ax >= rank || seen[ax]) {
      valid = false;
      break;
    }
    seen[ax] = true;
  }
  if (!valid)
    throw std::invalid_argument(fmt::format("{}: axes {} are not a permutation of the {} axes of shape {}",
                                            op, axes_str(axes), rank, shape_str(in_shape)));
  Shape out_shape(rank);
  for (std::size_t i = 0; i < rank; ++i) out_shape[i] = in_shape[axes[i]];
  if (result_shape && shape_numel(*result_shape) != shape_numel(out_shape))
    throw std::invalid_argument(fmt::format("{}: the permuted shape {} cannot be viewed as {}", op,
                                            shape_str(out_shape), shape_str(*result_shape)));
  Array<T> out = empty_array<T>(result_shape ? *result_shape : out_shape);
  {
    T* o = out.data();
    const T* x = a.data();
    for_each_permuted(in_shape, axes, [&](std::size_t i, std::size_t ia) { o[i] = x[ia]; });
  }
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), op, {a}, [na, in_shape, axes](const Array<T>& g, const Array<T>&) {
    T* ga = na->grad_buffer().data();
    const T* pg = g.data();
    for_each_permuted(in_shape, axes, [&](std::size_t i, std::size_t ia) { ga[ia] += pg[i]; });
  });
}

template <class T>
Tensor<T> slice_impl(const Tensor<T>& a, std::size_t axis, std::size_t begin, std::size_t end,
                     const char* op) {
  const OpTimer timer(op);
  const Shape in_shape = a.shape();
  const std::size_t outer = span_numel(in_shape, 0, axis), n = in_shape[axis];
  const std::size_t inner = span_numel(in_shape, axis + 1, in_shape.size());
  Shape out_shape = in_shape;
  out_shape[axis] = end - begin;
  // View a as [outer, n, inner]; out is [outer, end - begin, inner]: one block copy per outer.
  const std::size_t block = (end - begin) * inner, in_row = n * inner, offset = begin * inner;
  Array<T> out = empty_array<T>(out_shape);
  for (std::size_t o = 0; o < outer && block > 0; ++o)
    std::memcpy(out.data() + o * block, a.data() + o * in_row + offset, block * sizeof(T));
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  return make_result<T>(std::move(out), op, {a},
                        [na, outer, block, in_row, offset](const Array<T>& g, const Array<T>&) {
    T* ga = na->grad_buffer().data();
    for (std::size_t o = 0; o < outer; ++o) {
      T* dst = ga + o * in_row + offset;
      const T* src = g.data() + o * block;
      for (std::size_t j = 0; j < block; ++j) dst[j] += src[j];
    }
  });
}

}  // namespace

// y = a with a new shape;  da = g with a's shape (same row-major order)
template <class T>
Tensor<T> reshape(const Tensor<T>& a, const Shape& shape) {
  const OpTimer timer("reshape");
  if (shape_numel(shape) != a.numel())
    throw std::invalid_argument(fmt::format("reshape: cannot reshape {} ({} elements) to {} ({} elements)",
                                            shape_str(a.shape()), a.numel(), shape_str(shape),
                                            shape_numel(shape)));
  Array<T> out = a.value();
  out.reshape(shape);
  if (!needs_grad<T>({&a})) return Tensor<T>(std::move(out));
  auto na = a.node();
  // accumulate() checks the element count only and keeps a's shape.
  return make_result<T>(std::move(out), "reshape", {a},
                        [na](const Array<T>& g, const Array<T>&) { na->accumulate(g); });
}

// y[i_0..i_r] = a[i at axes^-1];  da = g permuted back (scatter along the same index map)
template <class T>
Tensor<T> permute(const Tensor<T>& a, const std::vector<std::size_t>& axes) {
  return permute_impl(a, a.shape(), axes, nullptr, "permute");
}

// permute() of a viewed as `view`, the result viewed as `shape`: one node, so neither reshaped
// copy is kept for the backward (which needs no values at all).
template <class T>
Tensor<T> permute_as(const Tensor<T>& a, const Shape& view, const std::vector<std::size_t>& axes, const Shape& shape) {
  if (shape_numel(view) != a.numel())
    throw std::invalid_argument(fmt::format("permute_as: cannot view {} ({} elements) as {} ({} elements)",
                                            shape_str(a.shape()), a.numel(), shape_str(view), shape_numel(view)));
  return permute_impl(a, view, axes, &shape, "permute_as");
}

// permute with axis0 and axis1 swapped
template <class T>
Tensor<T> transpose(const Tensor<T>& a, int axis0, int axis1) {
  const Shape shape = a.shape();
  const std::size_t i = normalize_axis(axis0, shape, "transpose");
  const std::size_t j = normalize_axis(axis1, shape, "transpose");
  std::vector<std::size_t> axes(shape.size());
  for (std::size_t k = 0; k < axes.size(); ++k) axes[k] = k;
  std::swap(axes[i], axes[j]);
  return permute_impl(a, shape, axes, nullptr, "transpose");
}

// y = a[..., begin:end, ...];  da[..., begin:end, ...] += g, zero elsewhere
template <class T>
Tensor<T> slice(const Tensor<T>& a, int axis, std::size_t begin, std::size_t end) {
  const Shape shape = a.shape();
  const std::size_t ax = normalize_axis(axis, shape, "slice");
  if (begin > end || end > shape[ax])
    throw std::invalid_argument(fmt::format("slice: range [{}, {}) is not within axis {} of size {} (shape {})",
                                            begin, end, axis, shape[ax], shape_str(shape)));
  return slice_impl(a, ax, begin, end, "slice");
}

// y = [p_0 | p_1 | ...] along axis;  dp_k = the k-th block of g
template <class T>
Tensor<T> concat(const std::vector<Tensor<T>>& parts, int axis) {
  const OpTimer timer("concat");
  if (parts.empty()) throw std::invalid_argument("concat: needs at least one tensor");
  const Shape first = parts[0].shape();
  const std::size_t ax = normalize_axis(axis, first, "concat");
  Shape out_shape = first;
  out_shape[ax] = 0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    Shape s = parts[k].shape();
    bool ok = s.size() == first.size();
    for (std::size_t i = 0; ok && i < s.size(); ++i) ok = i == ax || s[i] == first[i];
    if (!ok)
      throw std::invalid_argument(fmt::format("concat: part {} has shape {}, part 0 has shape {}; "
                                              "they must match except on axis {}",
                                              k, shape_str(s), shape_str(first), axis));
    out_shape[ax] += s[ax];
  }
  // View each part as [outer, n_k * inner]; the output row of each outer index is the parts'
  // rows one after another.
  const std::size_t outer = span_numel(first, 0, ax), inner = span_numel(first, ax + 1, first.size());
  const std::size_t out_row = out_shape[ax] * inner;
  std::vector<std::size_t> widths(parts.size()), offsets(parts.size());
  for (std::size_t k = 0, off = 0; k < parts.size(); ++k) {
    widths[k] = parts[k].shape()[ax] * inner;
    offsets[k] = off;
    off += widths[k];
  }
  Array<T> out = empty_array<T>(out_shape);
  for (std::size_t k = 0; k < parts.size(); ++k)
    for (std::size_t o = 0; o < outer && widths[k] > 0; ++o)
      std::memcpy(out.data() + o * out_row + offsets[k], parts[k].data() + o * widths[k],
                  widths[k] * sizeof(T));
  bool record = false;
  for (const Tensor<T>& p : parts) record = record || needs_grad<T>({&p});
  if (!record) return Tensor<T>(std::move(out));
  std::vector<std::shared_ptr<Node<T>>> nodes;
  for (const Tensor<T>& p : parts) nodes.push_back(p.node());
  return make_result<T>(std::move(out), "concat", parts,
                        [nodes, widths, offsets, outer, out_row](const Array<T>& g, const Array<T>&) {
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      if (!nodes[k]->requires_grad) continue;
      T* gp = nodes[k]->grad_buffer().data();
      for (std::size_t o = 0; o < outer; ++o) {
        const T* src = g.data() + o * out_row + offsets[k];
        T* dst = gp + o * widths[k];
        for (std::size_t j = 0; j < widths[k]; ++j) dst[j] += src[j];
      }
    }
  });
}

// pieces are slices; each piece's backward adds into its block of da
template <class T>
std::vector<Tensor<T>> split(const Tensor<T>& a, int axis, const std::vector<std::size_t>& sizes) {
  const Shape shape = a.shape();
  const std::size_t ax = normalize_axis(axis, shape, "split");
  std::size_t total = 0;
  for (std::size_t s : sizes) total += s;
  if (total != shape[ax])
    throw std::invalid_argument(fmt::format("split: sizes {} add up to {}, but axis {} of shape {} has size {}",
                                            axes_str(sizes), total, axis, shape_str(shape), shape[ax]));
  std::vector<Tensor<T>> pieces;
  pieces.reserve(sizes.size());
  std::size_t begin = 0;
  for (std::size_t s : sizes) {
    pieces.push_back(slice_impl(a, ax, begin, begin + s, "split"));
    begin += s;
  }
  return pieces;
}

#define PF_INSTANTIATE(T)                                                                     \
  template Tensor<T> reshape<T>(const Tensor<T>&, const Shape&);                              \
  template Tensor<T> permute<T>(const Tensor<T>&, const std::vector<std::size_t>&);           \
  template Tensor<T> permute_as<T>(const Tensor<T>&, const Shape&, const std::vector<std::size_t>&, const Shape&); \
  template Tensor<T> transpose<T>(const Tensor<T>&, int, int);                                \
  template Tensor<T> slice<T>(const Tensor<T>&, int, std::size_t, std::size_t);               \
  template Tensor<T> concat<T>(const std::vector<Tensor<T>>&, int);                           \
  template std::vector<Tensor<T>> split<T>(const Tensor<T>&, int, const std::vector<std::size_t>&);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
