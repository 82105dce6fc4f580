#include "engine/distributed/mpi_communicator.hpp"

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#ifdef PERFORMER_HAVE_MPI
#include <mpi.h>
#endif

namespace pf::detail {

#ifdef PERFORMER_HAVE_MPI

namespace {

// MPI counts are ints: longer buffers go in pieces of at most 2^30 elements.
constexpr std::size_t kMaxPiece = std::size_t(1) << 30;

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(fmt::format("MPI {} failed: {}", what, std::string(text, std::size_t(length))));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      // Only the thread that made the communicator calls MPI; the engine's pool threads never do.
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    // Errors come back as codes (turned into exceptions) instead of killing the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
          "MPI_Comm_split_type");
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_mpi_ && !finalised) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce_sum(float* data, std::size_t n) override { sum(data, n, MPI_FLOAT); }
  void allreduce_sum(double* data, std::size_t n) override { sum(data, n, MPI_DOUBLE); }

  void broadcast(void* data, std::size_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for (std::size_t at = 0; at < bytes; at += kMaxPiece)
      check(MPI_Bcast(p + at, int(std::min(kMaxPiece, bytes - at)), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(const std::string& message, int code) override {
    std::fprintf(stderr, "rank %d of %d: %s\n", rank_, size_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  template <class T>
  void sum(T* data, std::size_t n, MPI_Datatype type) {
    for (std::size_t at = 0; at < n; at += kMaxPiece)
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, int(std::min(kMaxPiece, n - at)), type, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  }

  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace

bool mpi_available() { return true; }
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

#else

bool mpi_available() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
  throw std::runtime_error("this build has no MPI (install libopenmpi-dev and reconfigure with -DPERFORMER_MPI=ON)");
}

#endif

}  // namespace pf::detail
