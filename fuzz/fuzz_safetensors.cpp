// Weights files: load_safetensors, every tensor converted both ways, then load_module into a
// small MLP (names, shapes and finite values checked). Documented errors: std::runtime_error
// (a bad file) and std::invalid_argument (a file that does not fit the module).
#include <stdexcept>

#include "engine/io/safetensors.hpp"
#include "fuzz_input.hpp"
#include "layers/mlp.hpp"
#include "layers/module_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static pf::Rng rng(1);
  static pf::MLP<float> model({3, 4, 2}, pf::Activation::tanh, rng);  // the seed corpus's model
  const std::string& path = pf::fuzz::write_input(data, size, false);
  try {
    const pf::SafetensorsFile file = pf::load_safetensors(path);
    file.arrays<float>();
    file.arrays<double>();
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  } catch (const std::invalid_argument& e) {
    pf::fuzz::refused(e);
  }
  try {
    pf::load_module(model, path);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  } catch (const std::invalid_argument& e) {
    pf::fuzz::refused(e);
  }
  return 0;
}
