// Averaging a model's gradients over the ranks of a data-parallel job.
//
// Each rank's backward leaves the gradient of its share of the global batch; with the loss of
// every share a mean over an equal number of examples, the gradient of the global mean is the
// mean over ranks: g = (1/N) sum_r g_r. The sum runs in buckets of at most `bucket_bytes`
// (one allreduce per bucket, not one per parameter: MPI's latency per call dominates small
// tensors), over the parameters in their registration order, so every rank packs the same
// bytes in the same places and the job is deterministic.
//
// A parameter whose gradient was never accumulated on a rank counts as zero there; one that no
// rank touched stays without gradient (optimizers skip it, as in a single process).
#pragma once

#include <cstddef>
#include <vector>

#include "engine/core/named.hpp"
#include "engine/distributed/communicator.hpp"

namespace pf {

template <class T>
class GradientAverager {
 public:
  static constexpr std::size_t kDefaultBucketBytes = std::size_t(4) << 20;

  GradientAverager(Communicator& comm, NamedTensors<T> params, std::size_t bucket_bytes = kDefaultBucketBytes);

  // After backward, before the optimizer step. Nothing to do on a single rank.
  void average();

  // [first, last) parameter indices of each bucket.
  struct Bucket {
    std::size_t first = 0, last = 0, elements = 0;
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  Communicator& comm_;
  NamedTensors<T> params_;
  std::vector<Bucket> buckets_;
  std::vector<T> packed_, touched_;
};

}  // namespace pf
