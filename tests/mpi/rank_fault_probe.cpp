// Run by ctest under `mpirun -np 2`: rank 1 throws while rank 0 waits in a collective. The job
// must end (non-zero, within seconds) with one line naming rank 1 and the cause, not hang.
#include <stdexcept>

#include "engine/distributed/communicator.hpp"
#include "training_session.hpp"

int main() {
  return pf::examples::run_program("rank_fault_probe", [] {
    pf::Communicator& comm = pf::world();
    if (comm.size() != 2) throw std::runtime_error("needs exactly 2 ranks");
    if (comm.rank() == 1) throw std::runtime_error("injected failure on this rank");
    comm.barrier();  // rank 0 would wait here forever without the abort
    return 0;
  });
}
