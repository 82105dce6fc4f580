#include "engine/distributed/gradient_average.hpp"

#include <stdexcept>
#include <vector>

#include "engine/core/random.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

// Rank 0 of a 2-rank job whose other rank is simulated: it has touched every parameter, and
// each of its gradient entries is 1. Records the length of every collective.
class TwoRankFake final : public Communicator {
 public:
  std::vector<std::size_t> calls;
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int local_size() const override { return 2; }
  std::string backend() const override { return "fake"; }
  void allreduce_sum(float* data, std::size_t n) override { add_other(data, n); }
  void allreduce_sum(double* data, std::size_t n) override { add_other(data, n); }
  void broadcast(void*, std::size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int) override { throw std::runtime_error(message); }

 private:
  template <class T>
  void add_other(T* data, std::size_t n) {
    calls.push_back(n);
    for (std::size_t i = 0; i < n; ++i) data[i] += T(1);
  }
};

}  // namespace

TEST_CASE("GradientAverager: mean over ranks, packed in buckets in registration order",
          "[distributed][gradient_average]") {
  Rng rng(3);
  NamedTensors<double> params = {{"a", randn<double>({3, 4}, rng)},
                                 {"b", randn<double>({5}, rng)},
                                 {"c", randn<double>({2, 2}, rng)},   // no gradient on this rank
                                 {"d", randn<double>({7, 3}, rng)}};  // larger than a bucket
  for (std::size_t i : {0u, 1u, 3u}) {
    Array<double>& g = params[i].second.grad_mut();
    for (std::size_t k = 0; k < g.size(); ++k) g.data()[k] = double(10 * i + k);
  }
  TwoRankFake comm;
  GradientAverager<double> averager(comm, params, 20 * sizeof(double));
  // a (12) + b (5) fit in 20 values; c (4) opens the next bucket; d (21) is one of its own.
  REQUIRE(averager.buckets().size() == 3);
  CHECK(averager.buckets()[0].first == 0);
  CHECK(averager.buckets()[0].last == 2);
  CHECK(averager.buckets()[1].elements == 4);
  CHECK(averager.buckets()[2].elements == 21);

  averager.average();
  // One collective for the touched flags, then one per bucket.
  CHECK(comm.calls == std::vector<std::size_t>{4, 17, 4, 21});
  for (std::size_t i : {0u, 1u, 3u}) {
    const Array<double>& g = params[i].second.grad();
    for (std::size_t k = 0; k < g.size(); ++k) CHECK(g.data()[k] == (double(10 * i + k) + 1.0) / 2.0);
  }
  // Untouched here, touched on the other rank: the mean of 0 and 1.
  REQUIRE(params[2].second.has_grad());
  for (double v : params[2].second.grad()) CHECK(v == 0.5);
}

TEST_CASE("GradientAverager: a single rank leaves gradients bit for bit and adds none",
          "[distributed][gradient_average]") {
  auto comm = make_single_process_communicator();
  CHECK(comm->size() == 1);
  CHECK(comm->rank() == 0);
  Rng rng(4);
  NamedTensors<float> params = {{"w", randn<float>({4, 4}, rng)}, {"untouched", randn<float>({3}, rng)}};
  params[0].second.grad_mut().fill(0.3f);
  GradientAverager<float> averager(*comm, params);
  averager.average();
  for (float v : params[0].second.grad()) CHECK(v == 0.3f);
  CHECK_FALSE(params[1].second.has_grad());
  REQUIRE_THROWS_WITH(GradientAverager<float>(*comm, params, 2), Catch::Contains("2 bytes"));
}

TEST_CASE("default_threads_per_rank shares the cores among the ranks of a machine", "[distributed]") {
  auto single = make_single_process_communicator();
  TwoRankFake two;
  const int one = default_threads_per_rank(*single);
  CHECK(one >= 1);
  CHECK(default_threads_per_rank(two) == std::max(1, one / 2));
}
