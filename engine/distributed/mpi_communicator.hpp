// Internal: the MPI implementation of Communicator (engine/distributed/communicator.hpp), kept
// in its own translation unit so that only it includes <mpi.h>.
#pragma once

#include <memory>

#include "engine/distributed/communicator.hpp"

namespace pf::detail {

// Whether this build links MPI (CMake found it and PERFORMER_MPI was on).
bool mpi_available();
// Initialises MPI (once per process) and returns a communicator over MPI_COMM_WORLD; MPI is
// finalised when the communicator is destroyed. Throws std::runtime_error without MPI.
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace pf::detail
