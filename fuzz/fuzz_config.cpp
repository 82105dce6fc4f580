// PerformerConfig JSON (as stored in checkpoints): from_json, and for a config it accepts, the
// round trip to_json -> from_json must give the same JSON again (else abort: a finding).
// Documented error: std::invalid_argument.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "fuzz_input.hpp"
#include "models/performer_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  pf::PerformerConfig config;
  try {
    config = pf::PerformerConfig::from_json(text);
  } catch (const std::invalid_argument& e) {
    pf::fuzz::refused(e);
    return 0;
  }
  const std::string once = config.to_json();
  const std::string twice = pf::PerformerConfig::from_json(once).to_json();
  if (once != twice) {
    std::fprintf(stderr, "PerformerConfig round trip differs:\n%s\n%s\n", once.c_str(), twice.c_str());
    std::abort();
  }
  return 0;
}
