// The processes that train one model together, and the collective operations they share.
//
// Data-parallel training (DESIGN.md section 5): every rank holds the whole model, computes the
// gradient of its share of the global batch, and the gradients are summed over the ranks before
// the optimizer step, so every rank applies the same update. This header knows nothing of
// models or attention: it moves float/double buffers and bytes.
//
// Two implementations: MPI (Debian's OpenMPI, built when CMake finds it and the process was
// started by mpirun) and a single process, where every collective is the identity. Programs ask
// for `world()` and need not know which one they got.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace pf {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;        // 0 .. size() - 1
  virtual int size() const = 0;        // ranks in the job
  virtual int local_size() const = 0;  // ranks on this machine (for the threads per rank)
  virtual std::string backend() const = 0;  // "mpi" or "single-process"

  // In place: data[i] = sum over ranks of data[i]. Every rank must call with the same n, in the
  // same order; the sum order is fixed by the implementation, so equal inputs give equal outputs.
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual void allreduce_sum(double* data, std::size_t n) = 0;
  // In place: every rank gets root's `bytes` bytes.
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job, now, with exit code `code` (after printing `message` with this
  // rank's number to stderr). For an error on one rank while the others wait in a collective:
  // without it they would wait forever.
  [[noreturn]] virtual void abort(const std::string& message, int code) = 0;
};

// The communicator of this process, made on first use: MPI when the build has MPI and the
// environment says mpirun started us (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), otherwise
// single-process (so a plain `./train_text` never pays MPI's start-up).
Communicator& world();

// Always a single-process communicator (tests, programs that must not go distributed).
std::unique_ptr<Communicator> make_single_process_communicator();

// True when this build can run under MPI.
bool built_with_mpi();

// Threads per rank that use this machine's cores without oversubscribing them:
// max(1, hardware threads / ranks on this machine).
int default_threads_per_rank(const Communicator& comm);

}  // namespace pf
