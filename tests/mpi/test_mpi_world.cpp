// Run by ctest as `mpirun -np 2 performer_mpi_tests`: the MPI communicator and the gradient
// averaging on two real processes.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <vector>

#include "engine/core/random.hpp"
#include "engine/distributed/communicator.hpp"
#include "engine/distributed/gradient_average.hpp"

using namespace pf;

TEST_CASE("mpi world: two ranks, sums, broadcast", "[mpi]") {
  Communicator& comm = world();
  REQUIRE(comm.backend() == "mpi");
  REQUIRE(comm.size() == 2);
  const int r = comm.rank();
  std::vector<float> f = {float(r + 1), float(10 * r)};
  comm.allreduce_sum(f.data(), f.size());
  CHECK(f == std::vector<float>{3.f, 10.f});
  std::vector<double> d(3, double(r) + 0.25);
  comm.allreduce_sum(d.data(), d.size());
  CHECK(d == std::vector<double>(3, 1.5));
  std::uint64_t seed = r == 0 ? 12345u : 0u;
  comm.broadcast(&seed, sizeof seed, 0);
  CHECK(seed == 12345u);
  comm.barrier();
}

TEST_CASE("mpi world: sums of odd lengths in float and double equal the sum of both ranks' data", "[mpi]") {
  Communicator& comm = world();
  const int r = comm.rank();
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(1001), std::size_t(65537)}) {
    std::vector<float> f(n);
    std::vector<double> d(n);
    for (std::size_t i = 0; i < n; ++i) {
      f[i] = float(i % 97) * (r == 0 ? 0.5f : 0.25f);
      d[i] = double(i) * (r == 0 ? 1e-3 : -2e-3);
    }
    comm.allreduce_sum(f.data(), n);
    comm.allreduce_sum(d.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(f[i] == float(i % 97) * 0.5f + float(i % 97) * 0.25f);
      REQUIRE(d[i] == double(i) * 1e-3 + double(i) * -2e-3);
    }
  }
}

TEST_CASE("mpi world: every rank ends with the mean gradient, bit-identical", "[mpi]") {
  Communicator& comm = world();
  const int r = comm.rank();
  Rng rng(std::uint64_t(100 + r));  // each rank its own gradient
  NamedTensors<float> params = {{"w", randn<float>({64, 33}, rng)}, {"b", randn<float>({33}, rng)}};
  std::vector<std::vector<float>> mine;
  for (auto& [name, p] : params) {
    Array<float> g = randn<float>(p.shape(), rng).value();
    p.grad_mut() = g;
    mine.emplace_back(g.begin(), g.end());
  }
  GradientAverager<float> averager(comm, params, 1000 * sizeof(float));
  averager.average();
  for (std::size_t i = 0; i < params.size(); ++i) {
    // The other rank's gradient, sent whole, gives the expected mean here.
    std::vector<float> theirs = mine[i];
    std::vector<float> both(2 * theirs.size());
    std::copy(theirs.begin(), theirs.end(), both.begin() + std::ptrdiff_t(r * theirs.size()));
    comm.allreduce_sum(both.data(), both.size());  // rank 0's half, then rank 1's
    const Array<float>& g = params[i].second.grad();
    for (std::size_t k = 0; k < theirs.size(); ++k)
      REQUIRE(g.data()[k] == (both[k] + both[theirs.size() + k]) * 0.5f);
    // Identical on both ranks: rank 0's result broadcast equals rank 1's own.
    std::vector<float> root(g.begin(), g.end());
    comm.broadcast(root.data(), root.size() * sizeof(float), 0);
    CHECK(std::equal(root.begin(), root.end(), g.begin()));
  }
}
