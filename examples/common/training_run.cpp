#include "training_run.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "layers/module_io.hpp"
#include "progress.hpp"

namespace pf::examples {
namespace {

const char* kMarker = "performer.run";

Metadata run_metadata(const RunState& run) {
  std::string dropout;
  for (std::size_t i = 0; i < run.dropout_rngs.size(); ++i)
    dropout += (i ? ";" : "") + rng_state_to_string(run.dropout_rngs[i]);
  return {{kMarker, "1"},
          {"run.step", std::to_string(run.step)},
          {"run.total_steps", std::to_string(run.total_steps)},
          {"run.tokens_seen", fmt::format("{:.17g}", run.tokens_seen)},
          {"run.elapsed_seconds", fmt::format("{:.17g}", run.elapsed_seconds)},
          {"run.data_rng", rng_state_to_string(run.data_rng)},
          {"run.dropout_rngs", dropout},
          {"config", run.config_json}};
}

RunState parse_run(const Metadata& m, const std::string& path) {
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = m.find(key);
    if (it == m.end())
      throw std::runtime_error(fmt::format("checkpoint '{}' is not a training checkpoint of this program (no '{}' entry)", path, key));
    return it->second;
  };
  get(kMarker);
  RunState run;
  try {
    run.step = std::stoll(get("run.step"));
    run.total_steps = std::stoll(get("run.total_steps"));
    run.tokens_seen = std::stod(get("run.tokens_seen"));
    run.elapsed_seconds = std::stod(get("run.elapsed_seconds"));
    run.data_rng = rng_state_from_string(get("run.data_rng"));
    std::stringstream dropout(get("run.dropout_rngs"));
    for (std::string item; std::getline(dropout, item, ';');) run.dropout_rngs.push_back(rng_state_from_string(item));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("checkpoint '{}': bad run metadata: {}", path, e.what()));
  }
  run.config_json = get("config");
  return run;
}

}  // namespace

template <class T>
void save_run(const std::string& path, const Module<T>& model, const Optimizer<T>& optimizer, const RunState& run,
              const Metadata& extra) {
  Metadata metadata = run_metadata(run);
  for (const auto& [key, value] : extra) metadata.emplace(key, value);
  save_checkpoint(path, model, optimizer, metadata);
}

template <class T>
RunState load_run(const std::string& path, Module<T>& model, Optimizer<T>& optimizer) {
  const RunState run = peek_run(path);
  load_checkpoint(path, model, optimizer);
  return run;
}

RunState peek_run(const std::string& path) {
  return parse_run(load_safetensors(path).metadata, path);
}

RunState peek_run_to_resume(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error(fmt::format("--resume: checkpoint '{}' does not exist", path));
  return peek_run(path);
}

template <class T>
RunState resume_run(const std::string& path, Module<T>& model, Optimizer<T>& optimizer, Rng& data_rng) {
  RunState run = load_run(path, model, optimizer);
  data_rng.set_state(run.data_rng);
  fmt::print("resumed {} at step {} ({} trained)\n", path, run.step, format_duration(run.elapsed_seconds));
  return run;
}

std::size_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // in kB
  return 0;
}

template void save_run<float>(const std::string&, const Module<float>&, const Optimizer<float>&, const RunState&,
                              const Metadata&);
template RunState load_run<float>(const std::string&, Module<float>&, Optimizer<float>&);
template RunState resume_run<float>(const std::string&, Module<float>&, Optimizer<float>&, Rng&);

}  // namespace pf::examples
