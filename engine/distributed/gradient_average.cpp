#include "engine/distributed/gradient_average.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"

namespace pf {

template <class T>
GradientAverager<T>::GradientAverager(Communicator& comm, NamedTensors<T> params, std::size_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  if (bucket_bytes < sizeof(T))
    throw std::invalid_argument(fmt::format("GradientAverager: bucket of {} bytes holds no value", bucket_bytes));
  const std::size_t capacity = bucket_bytes / sizeof(T);
  std::size_t largest = 0;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::size_t n = params_[i].second.numel();
    // A parameter larger than a bucket gets a bucket of its own.
    if (buckets_.empty() || buckets_.back().elements + n > capacity) buckets_.push_back({i, i, 0});
    buckets_.back().last = i + 1;
    buckets_.back().elements += n;
    largest = std::max(largest, buckets_.back().elements);
  }
  packed_.resize(largest);
  touched_.resize(params_.size());
}

template <class T>
void GradientAverager<T>::average() {
  if (comm_.size() == 1) return;
  const OpTimer timer("gradient_allreduce");  // shows in PERFORMER_PROFILE's table
  // Which parameters have a gradient on some rank: one small collective for all of them.
  for (std::size_t i = 0; i < params_.size(); ++i) touched_[i] = params_[i].second.has_grad() ? T(1) : T(0);
  comm_.allreduce_sum(touched_.data(), touched_.size());
  const T inv_ranks = T(1) / T(comm_.size());
  for (const Bucket& b : buckets_) {
    T* at = packed_.data();
    for (std::size_t i = b.first; i < b.last; ++i) {
      Tensor<T>& p = params_[i].second;
      const std::size_t n = p.numel();
      if (p.has_grad()) std::copy(p.grad().data(), p.grad().data() + n, at);
      else std::fill(at, at + n, T(0));
      at += n;
    }
    comm_.allreduce_sum(packed_.data(), b.elements);
    at = packed_.data();
    for (std::size_t i = b.first; i < b.last; ++i) {
      Tensor<T>& p = params_[i].second;
      const std::size_t n = p.numel();
      if (touched_[i] > T(0)) {
        T* g = p.grad_mut().data();
        for (std::size_t k = 0; k < n; ++k) g[k] = at[k] * inv_ranks;
      }
      at += n;
    }
  }
}

template class GradientAverager<float>;
template class GradientAverager<double>;

}  // namespace pf
