#include "engine/ops/embedding.hpp"

#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf {

// y[p, :] = table[ids[p], :]  (p runs over the positions of ids);
// dtable[v, :] = sum over positions p with ids[p] = v of g[p, :]
template <class T>
Tensor<T> embedding(const Tensor<T>& table, const Indices& ids) {
  const OpTimer timer("embedding");
  const Shape table_shape = table.shape();
  if (table_shape.size() != 2)
    throw std::invalid_argument(fmt::format("embedding: table must be [V, D], got shape {}",
                                            shape_str(table_shape)));
  const std::size_t V = table_shape[0], D = table_shape[1];
  const Shape id_shape = to_shape(ids.shape());
  const std::size_t n = ids.size();
  const std::int64_t* id = ids.data();
  for (std::size_t p = 0; p < n; ++p)
    if (id[p] < 0 || static_cast<std::size_t>(id[p]) >= V)
      throw std::invalid_argument(fmt::format("embedding: id {} at position {} is out of range for V = {} rows",
                                              id[p], shape_str(unravel_index(p, id_shape)), V));
  Shape out_shape = id_shape;
  out_shape.push_back(D);
  Array<T> out = empty_array<T>(out_shape);
  for (std::size_t p = 0; p < n && D > 0; ++p)
    std::memcpy(out.data() + p * D, table.data() + static_cast<std::size_t>(id[p]) * D, D * sizeof(T));
  if (!needs_grad<T>({&table})) return Tensor<T>(std::move(out));
  auto nt = table.node();
  std::vector<std::int64_t> saved_ids(id, id + n);
  return make_result<T>(std::move(out), "embedding", {table},
                        [nt, D, saved_ids = std::move(saved_ids)](const Array<T>& g, const Array<T>&) {
    T* dt = nt->grad_buffer().data();
    for (std::size_t p = 0; p < saved_ids.size(); ++p) {
      T* dst = dt + static_cast<std::size_t>(saved_ids[p]) * D;
      const T* src = g.data() + p * D;
      for (std::size_t c = 0; c < D; ++c) dst[c] += src[c];
    }
  });
}

template Tensor<float> embedding<float>(const Tensor<float>&, const Indices&);
template Tensor<double> embedding<double>(const Tensor<double>&, const Indices&);

}  // namespace pf
