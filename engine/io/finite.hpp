// No silent non-finite state: a NaN or Inf in a weight or an optimizer moment read from a file
// would only show later as garbage output, and one written into a checkpoint would replace the
// last good state. The loaders (load_npy, load_module, load_checkpoint) and the savers
// (save_module, save_checkpoint) check every value and throw, naming the file and the tensor.
// A user who means it (e.g. to inspect a broken run) turns the check off for the process with
// allow_non_finite(true) (the programs' --allow-non-finite).
#pragma once

#include <cstddef>
#include <string>

namespace pf {

void allow_non_finite(bool allow);
bool non_finite_allowed();

// Throws std::runtime_error "<what>: tensor '<name>' holds <value> at flat index <i> (<count>
// non-finite values of <n>)..." unless every value is finite or non-finite values are allowed.
template <class T>
void require_finite(const T* data, std::size_t n, const std::string& what, const std::string& name);

}  // namespace pf
