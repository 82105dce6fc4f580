// .npy files, read as float and as double. Documented error: std::runtime_error.
#include <stdexcept>

#include "engine/io/npy.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = pf::fuzz::write_input(data, size, false);
  try {
    pf::load_npy<float>(path);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  }
  try {
    pf::load_npy<double>(path);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  }
  return 0;
}
