#include "engine/distributed/communicator.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/distributed/mpi_communicator.hpp"
#include "engine/kernels/thread_pool.hpp"

namespace pf {
namespace {

// One process: it is rank 0 of 1, and the sum over ranks of a buffer is the buffer.
class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "single-process"; }
  void allreduce_sum(float*, std::size_t) override {}
  void allreduce_sum(double*, std::size_t) override {}
  void broadcast(void*, std::size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int code) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(code);
  }
};

bool started_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

}  // namespace

std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

bool built_with_mpi() { return detail::mpi_available(); }

Communicator& world() {
  static std::unique_ptr<Communicator> comm = [] {
    if (built_with_mpi() && started_by_mpirun()) return detail::make_mpi_communicator();
    return make_single_process_communicator();
  }();
  return *comm;
}

int default_threads_per_rank(const Communicator& comm) {
  return std::max(1, usable_cpus() / std::max(1, comm.local_size()));
}

}  // namespace pf
