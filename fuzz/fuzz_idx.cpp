// Fashion-MNIST IDX files, read as images and as labels. Built twice: fuzz_idx takes the input as
// the file (plain, or a gzip stream the fuzzer damages), fuzz_idx_gzip gzip-compresses it first
// (PF_FUZZ_GZIP). Documented error: std::runtime_error.
#include <stdexcept>

#include "fashion_mnist.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = pf::fuzz::write_input(data, size, PF_FUZZ_GZIP);
  try {
    pf::examples::read_idx_images(path);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  }
  try {
    pf::examples::read_idx_labels(path);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  }
  return 0;
}
