#include "layers/attention/lsh_attention.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"
#include "engine/core/random.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/gather.hpp"
#include "engine/ops/mask.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/ops/shape_ops.hpp"
#include "engine/ops/softmax.hpp"
#include "layers/attention/attention_slices.hpp"

namespace pf {

void check_lsh_options(const LshOptions& o) {
  if (o.buckets == 0 || (o.buckets > 1 && o.buckets % 2 != 0))
    throw std::invalid_argument(
        fmt::format("lsh attention: buckets must be 1 or an even number >= 2 (argmax over [xR, -xR]), got {}", o.buckets));
  if (o.rounds == 0) throw std::invalid_argument("lsh attention: hash rounds must be at least 1, got 0");
  if (o.chunk == 0) throw std::invalid_argument("lsh attention: chunk must be at least 1, got 0");
}

namespace {

void check_rotations(const Shape& rs, const LshOptions& o, std::size_t d) {
  if (o.buckets > 1 && rs != Shape{o.rounds, d, o.buckets / 2})
    throw std::invalid_argument(fmt::format("lsh attention: rotations {} must be [rounds, d, buckets / 2] = [{},{},{}]",
                                            shape_str(rs), o.rounds, d, o.buckets / 2));
}

// buckets[(s * n_r + r) * L + i] for slice s, round r, row i of qk [N, L, d].
template <class T>
std::vector<std::int64_t> hash_rows(const T* qk, const T* rotations, std::size_t N, std::size_t L, std::size_t d,
                                    const LshOptions& o) {
  std::vector<std::int64_t> buckets(N * o.rounds * L, 0);
  if (o.buckets == 1) return buckets;
  const std::size_t half = o.buckets / 2;
  parallel_for(N * o.rounds, [&](std::size_t sr) {
    const std::size_t s = sr / o.rounds, r = sr % o.rounds;
    const T* R = rotations + r * d * half;
    std::vector<double> h(half);
    for (std::size_t i = 0; i < L; ++i) {
      const T* x = qk + (s * L + i) * d;
      std::fill(h.begin(), h.end(), 0.0);
      for (std::size_t k = 0; k < d; ++k)
        for (std::size_t j = 0; j < half; ++j) h[j] += double(x[k]) * double(R[k * half + j]);
      std::size_t best = 0;
      double best_value = h[0];
      for (std::size_t j = 0; j < o.buckets; ++j) {
        const double value = j < half ? h[j] : -h[j - half];
        if (value > best_value) best = j, best_value = value;
      }
      buckets[sr * L + i] = std::int64_t(best);
    }
  });
  return buckets;
}

// Where every token sits after sorting by (bucket, position) and cutting each bucket into chunks.
// For slice-round sr: query_pos[(sr * C + t) * c + a] is the position in slot a of chunk t (-1:
// empty), previous[sr * C + t] the previous chunk of the same bucket (-1: none), and
// slot[sr * L + i] = t * c + a of position i.
struct LshLayout {
  std::size_t chunks = 0;  // C: chunks per slice-round (room for the most any hashing can need)
  std::vector<std::int64_t> query_pos, previous, slot;
};

LshLayout sort_into_chunks(const std::vector<std::int64_t>& buckets, std::size_t slice_rounds, std::size_t L,
                           const LshOptions& o) {
  const std::size_t c = o.chunk, b = o.buckets;
  std::vector<std::vector<std::size_t>> counts(slice_rounds, std::vector<std::size_t>(b, 0));
  LshLayout lay;
  for (std::size_t sr = 0; sr < slice_rounds; ++sr)
    for (std::size_t i = 0; i < L; ++i) ++counts[sr][std::size_t(buckets[sr * L + i])];
  // With e nonempty buckets, sum ceil(n_b / c) <= (L - e) / c + e, largest at e = min(b, L): a
  // bound that does not depend on the hashes keeps every step's shapes (and pool buffers) the same.
  const std::size_t e = std::min(b, L);
  lay.chunks = (L - e) / c + e;
  const std::size_t C = lay.chunks;
  lay.query_pos.assign(slice_rounds * C * c, -1);
  lay.previous.assign(slice_rounds * C, -1);
  lay.slot.assign(slice_rounds * L, 0);
  for (std::size_t sr = 0; sr < slice_rounds; ++sr) {
    std::vector<std::size_t> first_chunk(b, 0), rank(b, 0);
    for (std::size_t beta = 0, t = 0; beta < b; ++beta) {
      first_chunk[beta] = t;
      const std::size_t n = (counts[sr][beta] + c - 1) / c;
      for (std::size_t k = 1; k < n; ++k) lay.previous[sr * C + t + k] = std::int64_t(sr * C + t + k - 1);
      t += n;
    }
    for (std::size_t i = 0; i < L; ++i) {  // positions in order: within a bucket, ranks follow positions
      const std::size_t beta = std::size_t(buckets[sr * L + i]), r = rank[beta]++;
      const std::size_t s = (first_chunk[beta] + r / c) * c + r % c;
      lay.slot[sr * L + i] = std::int64_t(s);
      lay.query_pos[sr * C * c + s] = std::int64_t(i);
    }
  }
  return lay;
}

}  // namespace

template <class T>
Indices lsh_buckets(const Tensor<T>& qk, const Tensor<T>& rotations, const LshOptions& o) {
  check_lsh_options(o);
  const AttentionSlices a = check_attention_slices("lsh_buckets", "q", "k", "d", qk.shape(), qk.shape(), qk.shape(), nullptr);
  const std::size_t d = qk.size(-1);
  check_rotations(rotations.shape(), o, d);
  const auto buckets = hash_rows(qk.data(), rotations.data(), a.slices, a.len, d, o);
  Shape shape = qk.shape();
  shape.pop_back();
  shape.insert(shape.end() - 1, o.rounds);
  Indices out = empty_array<std::int64_t>(shape);
  std::copy(buckets.begin(), buckets.end(), out.data());
  return out;
}

template <class T>
Tensor<T> lsh_attention(const Tensor<T>& qk, const Tensor<T>& v, const Tensor<T>& rotations, const LshOptions& o,
                        bool causal, const Mask* key_padding) {
  const OpTimer timer("lsh_attention");
  check_lsh_options(o);
  const AttentionSlices a =
      check_attention_slices("lsh_attention", "q", "k", "d", qk.shape(), qk.shape(), v.shape(), key_padding);
  const std::size_t N = a.slices, L = a.len, d = qk.size(-1), dv = v.size(-1), n_r = o.rounds, c = o.chunk;
  check_rotations(rotations.shape(), o, d);
  if (N == 0 || L == 0) return mul_scalar(v, T(0));

  // Index computations (no gradient): buckets, the sorted chunk layout, the keys each query sees.
  const std::vector<std::int64_t> buckets = hash_rows(qk.data(), rotations.data(), N, L, d, o);
  const LshLayout lay = sort_into_chunks(buckets, N * n_r, L, o);
  const std::size_t C = lay.chunks, windows = N * n_r * C;  // one window = one chunk's queries
  Indices query_index = Indices::from_shape({N, n_r * C * c}), key_index = Indices::from_shape({N, n_r * C * 2 * c});
  Mask masked = Mask::from_shape({windows, c, 2 * c});
  Array<T> has_key = filled_array<T>({windows, c, 1}, T(0));
  parallel_for(windows, [&](std::size_t w) {
    const std::size_t sr = w / C, s = sr / n_r;
    const std::uint8_t* pad = key_padding ? key_padding->data() + (s / a.slices_per_mask_row) * L : nullptr;
    const std::int64_t* own = lay.query_pos.data() + w * c;
    const std::int64_t* before = lay.previous[w] >= 0 ? lay.query_pos.data() + lay.previous[w] * c : nullptr;
    std::int64_t* keys = key_index.data() + w * 2 * c;  // [previous chunk, own chunk]
    for (std::size_t j = 0; j < c; ++j) keys[j] = before ? before[j] : -1;
    std::copy(own, own + c, keys + c);
    for (std::size_t i = 0; i < c; ++i) query_index.data()[w * c + i] = std::max<std::int64_t>(own[i], 0);
    for (std::size_t i = 0; i < c; ++i) {
      const std::int64_t qi = own[i];
      std::uint8_t* row = masked.data() + (w * c + i) * 2 * c;
      bool any = false;
      for (std::size_t j = 0; j < 2 * c; ++j) {
        const std::int64_t kj = keys[j];
        // every key of the window is in the query's bucket (chunks never mix buckets)
        const bool ok = qi >= 0 && kj >= 0 && kj != qi && !(pad && pad[kj]) && !(causal && kj > qi);
        row[j] = !ok;
        any = any || ok;
      }
      if (!any && qi >= 0 && !(pad && pad[qi])) row[c + i] = 0, any = true;  // itself, when nothing else is left
      has_key.data()[w * c + i] = any ? T(1) : T(0);
    }
    for (std::size_t j = 0; j < 2 * c; ++j) keys[j] = std::max<std::int64_t>(keys[j], 0);
  });

  // Attention inside each window, from engine ops. The 1/sqrt(d) rides on the keys.
  const Tensor<T> q3 = reshape(qk, {N, L, d}), v3 = reshape(v, {N, L, dv});
  const T key_scale = T(1 / std::sqrt(double(d)));
  const Tensor<T> keys =  // q_j / (|q_j| sqrt(d))
      q3 * mul_scalar(pow_scalar(add_scalar(sum(q3 * q3, -1, true), T(1e-12)), T(-0.5)), key_scale);
  const Tensor<T> wq = reshape(gather_rows(q3, query_index), {windows, c, d});
  const Tensor<T> wk = reshape(gather_rows(keys, key_index), {windows, 2 * c, d});
  const Tensor<T> wv = reshape(gather_rows(v3, key_index), {windows, 2 * c, dv});
  const Tensor<T> scores = masked_fill(matmul(wq, wk, false, true), masked, T(-1e30));
  const Tensor<T> probs = softmax(scores);
  const Tensor<T> window_out = matmul(probs, wv) * Tensor<T>(std::move(has_key));  // [windows, c, dv]
  // Back to positions: round r's output for position i is at slot r * C * c + slot_r(i).
  Indices back = Indices::from_shape({N, n_r * L});
  for (std::size_t s = 0; s < N; ++s)
    for (std::size_t r = 0; r < n_r; ++r)
      for (std::size_t i = 0; i < L; ++i)
        back.data()[(s * n_r + r) * L + i] = std::int64_t(r * C * c) + lay.slot[(s * n_r + r) * L + i];
  const Tensor<T> rounds_out = gather_rows(reshape(window_out, {N, n_r * C * c, dv}), back);  // [N, n_r L, dv]
  if (n_r == 1) return reshape(rounds_out, v.shape());
  // lse_i = s_ij* - log p_ij* at the row's largest score j* (p_ij* >= 1/2c: no underflow); its
  // gradient is p_i, that of the log-sum-exp.
  Indices top = Indices::from_shape({windows, c});
  for (std::size_t i = 0; i < windows * c; ++i) {
    const T* row = scores.data() + i * 2 * c;
    top.data()[i] = std::max_element(row, row + 2 * c) - row;
  }
  const Tensor<T> window_lse = take_along_last_axis(scores, top) - log(take_along_last_axis(probs, top));  // [windows, c]
  const Tensor<T> lse = gather_rows(reshape(window_lse, {N, n_r * C * c, 1}), back);
  const Tensor<T> lse4 = reshape(lse, {N, n_r, L, 1});
  Array<T> lse_max = empty_array<T>({N, 1, L, 1});
  for (std::size_t s = 0; s < N; ++s)
    for (std::size_t i = 0; i < L; ++i) {
      T m = lse4.data()[s * n_r * L + i];
      for (std::size_t r = 1; r < n_r; ++r) m = std::max(m, lse4.data()[(s * n_r + r) * L + i]);
      lse_max.data()[s * L + i] = m;
    }
  const Tensor<T> weight_unnormalised = exp(lse4 - Tensor<T>(std::move(lse_max)));
  const Tensor<T> weights = weight_unnormalised / sum(weight_unnormalised, 1, true);  // softmax over rounds
  return reshape(sum(weights * reshape(rounds_out, {N, n_r, L, dv}), 1), v.shape());
}

template <class T>
LshAttention<T>::LshAttention(std::size_t head_width, const LshOptions& options, bool causal, std::uint64_t seed)
    : options_(options), causal_(causal) {
  check_lsh_options(options);
  if (head_width == 0) throw std::invalid_argument("lsh attention: head width d must be positive, got 0");
  if (options.buckets > 1) {
    Rng rng(seed);
    rotations_ = this->register_buffer("rotations", randn<T>({options.rounds, head_width, options.buckets / 2}, rng));
  }
}

#define PF_INSTANTIATE(T)                                                                                  \
  template Indices lsh_buckets<T>(const Tensor<T>&, const Tensor<T>&, const LshOptions&);                  \
  template Tensor<T> lsh_attention<T>(const Tensor<T>&, const Tensor<T>&, const Tensor<T>&, const LshOptions&, \
                                      bool, const Mask*);                                                  \
  template class LshAttention<T>;
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
