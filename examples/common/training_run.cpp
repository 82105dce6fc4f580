#include "training_run.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/io/atomic_file.hpp"
#include "layers/attention/random_projection.hpp"  // encode_rng_state
#include "layers/dropout.hpp"
#include "layers/module_io.hpp"
#include "progress.hpp"

namespace pf::examples {
namespace {

// The marker's value is the format: 1 up to commit 07f5aac (dropout generators in the metadata
// entry run.dropout_rngs), 2 since (dropout generators are module buffers).
const char* kMarker = "performer.run";
const char* kLegacyDropout = "run.dropout_rngs";

Metadata run_metadata(const RunState& run) {
  return {{kMarker, "2"},
          {"run.step", std::to_string(run.step)},
          {"run.total_steps", std::to_string(run.total_steps)},
          {"run.tokens_seen", fmt::format("{:.17g}", run.tokens_seen)},
          {"run.elapsed_seconds", fmt::format("{:.17g}", run.elapsed_seconds)},
          {"run.data_rng", rng_state_to_string(run.data_rng)},
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
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("checkpoint '{}': bad run metadata: {}", path, e.what()));
  }
  run.config_json = get("config");
  return run;
}

// Format 1 kept one generator state per Dropout module, in registration order, as
// run.dropout_rngs = "w0,w1,w2,w3;w0,...", and no "<module>.rng_state" tensors. The states are
// used, not ignored: added to the file as those tensors, an old run resumes drawing the masks its
// uninterrupted run would have drawn (fresh generators would draw other masks).
template <class T>
void add_legacy_dropout_buffers(SafetensorsFile& file, const Module<T>& model) {
  const auto entry = file.metadata.find(kLegacyDropout);
  if (entry == file.metadata.end()) return;
  const std::string suffix = std::string(".") + Dropout<T>::kStateBuffer;
  std::vector<std::string> missing;
  for (const auto& [name, buffer] : model.named_buffers())
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        !file.find(name))
      missing.push_back(name);
  std::vector<Rng::State> states;
  try {
    std::stringstream list(entry->second);
    for (std::string item; std::getline(list, item, ';');) states.push_back(rng_state_from_string(item));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("checkpoint '{}': bad run metadata {}: {}", file.path, kLegacyDropout, e.what()));
  }
  if (states.size() != missing.size())
    throw std::runtime_error(fmt::format("checkpoint '{}': {} holds {} dropout states, the model has {} dropout "
                                         "buffers the file lacks",
                                         file.path, kLegacyDropout, states.size(), missing.size()));
  for (std::size_t i = 0; i < states.size(); ++i) {
    LoadedTensor t;
    t.name = missing[i];
    t.dtype = Dtype::f64;
    t.shape = {16};
    t.f64 = encode_rng_state<double>(states[i]);
    file.tensors.push_back(std::move(t));
  }
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
  SafetensorsFile file = load_safetensors(path);
  const RunState run = parse_run(file.metadata, path);
  add_legacy_dropout_buffers(file, model);
  load_checkpoint(file, model, optimizer);
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

void prepare_checkpoint_location(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!dir.empty() && !std::filesystem::exists(dir, error) && !std::filesystem::create_directories(dir, error) && error)
    throw std::runtime_error(fmt::format("--checkpoint '{}': cannot create the directory '{}': {}", path, dir.string(),
                                         error.message()));
  // A save killed mid-write (SIGKILL, power cut) leaves its temporary file beside the checkpoint;
  // the checkpoint itself is whole. The next run removes what such saves left.
  const std::string prefix = std::filesystem::path(path).filename().string() + ".tmp.";
  for (auto it = std::filesystem::directory_iterator(dir.empty() ? "." : dir, error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error))
    if (it->path().filename().string().rfind(prefix, 0) == 0 && it->is_regular_file()) {
      std::error_code removed;
      if (std::filesystem::remove(it->path(), removed))
        fmt::print("removed {}, left by a save that was interrupted (the checkpoint is whole)\n", it->path().string());
    }
  error.clear();
  try {
    require_atomic_write_possible(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("--checkpoint '{}' cannot be saved: {}", path, e.what()));
  }
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
