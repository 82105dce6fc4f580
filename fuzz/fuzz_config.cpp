// PerformerConfig JSON (as stored in checkpoints). For a config from_json accepts, two properties
// (else abort: a finding): every field the input sets holds the input's value (no silent
// conversion, e.g. -3 read as 2^64 - 3 or 2.5 as 2), and to_json -> from_json gives the same JSON
// again. Documented error: std::invalid_argument.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "fuzz_input.hpp"
#include "models/performer_config.hpp"

namespace {

// JSON equality, but numbers compared by value (nlohmann's == finds -3 equal to 2^64 - 3);
// long double holds every 64-bit integer exactly.
bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return a.get<long double>() == b.get<long double>();
  return a == b;
}

}  // namespace

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
  const nlohmann::json given = nlohmann::json::parse(text), held = nlohmann::json::parse(once);
  for (const auto& [key, value] : given.items())
    if (!held.contains(key) || !same_value(value, held[key])) {
      std::fprintf(stderr, "PerformerConfig: field '%s' given as %s is held as %s\n", key.c_str(), value.dump().c_str(),
                   held.contains(key) ? held[key].dump().c_str() : "(absent)");
      std::abort();
    }
  const std::string twice = pf::PerformerConfig::from_json(once).to_json();
  if (once != twice) {
    std::fprintf(stderr, "PerformerConfig round trip differs:\n%s\n%s\n", once.c_str(), twice.c_str());
    std::abort();
  }
  return 0;
}
