#include "init_from.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/finite.hpp"
#include "engine/io/safetensors.hpp"
#include "training_run.hpp"

namespace pf::examples {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The configuration fields that shape parameters and differ between the checkpoint and the
// flags ("width 64 in the checkpoint, 128 here"), for the error message. Kernel, features, seed
// and the like change no parameter shape and are left out.
std::string shape_field_differences(const PerformerConfig& source, const PerformerConfig& here) {
  const nlohmann::json a = nlohmann::json::parse(source.to_json()), b = nlohmann::json::parse(here.to_json());
  std::vector<std::string> out;
  for (const char* key : {"vocab", "width", "depth", "heads", "ff_hidden", "context", "positions", "tie_embeddings"})
    if (a.at(key) != b.at(key)) out.push_back(fmt::format("{} {} in the checkpoint, {} here", key, a.at(key).dump(), b.at(key).dump()));
  std::string joined;
  for (const auto& item : out) joined += (joined.empty() ? "" : "; ") + item;
  return joined;
}

}  // namespace

InitFromSummary init_weights_from(const std::string& path, Module<float>& model, const PerformerConfig& config,
                                  const std::string& optimizer_kind) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(fmt::format("--init-from: checkpoint '{}' does not exist", path));
  const SafetensorsFile file = load_safetensors(path);
  const RunState source_run = peek_run(path);  // throws when it is not a training checkpoint
  const PerformerConfig source = PerformerConfig::from_json(source_run.config_json);
  if (source.causal != config.causal || source.vocab != config.vocab)
    throw std::invalid_argument(fmt::format(
        "--init-from '{}': the checkpoint's model is {} with a vocabulary of {}, this one {} with {}: it was written "
        "by another program or task",
        path, source.causal ? "causal" : "bidirectional", source.vocab, config.causal ? "causal" : "bidirectional",
        config.vocab));

  // The checkpoint's parameters: the names its optimizer holds a first moment for.
  const std::string moment_prefix = optimizer_kind + ".m.";
  std::map<std::string, const LoadedTensor*> source_parameters;
  for (const LoadedTensor& t : file.tensors)
    if (t.name.rfind(moment_prefix, 0) == 0) {
      const std::string name = t.name.substr(moment_prefix.size());
      const LoadedTensor* weight = file.find(name);
      if (!weight)
        throw std::runtime_error(fmt::format("--init-from '{}': optimizer state '{}' without its parameter '{}'", path,
                                             t.name, name));
      source_parameters.emplace(name, weight);
    }
  if (source_parameters.empty())
    throw std::runtime_error(fmt::format("--init-from '{}': no '{}*' optimizer state, so no parameters to take (a "
                                         "checkpoint of another optimizer?)",
                                         path, moment_prefix));

  const NamedTensors<float> parameters = model.named_parameters();
  std::vector<std::string> problems, missing_here;
  std::map<std::string, bool> seen;
  for (const auto& [name, tensor] : parameters) {
    const auto it = source_parameters.find(name);
    if (it == source_parameters.end()) {
      problems.push_back(fmt::format("parameter '{}' {} is not in the checkpoint", name, shape_str(tensor.shape())));
      continue;
    }
    seen[name] = true;
    if (it->second->shape != tensor.shape())
      problems.push_back(fmt::format("parameter '{}': checkpoint {}, model {}", name, shape_str(it->second->shape),
                                     shape_str(tensor.shape())));
  }
  for (const auto& [name, tensor] : source_parameters)
    if (!seen.count(name)) missing_here.push_back(fmt::format("'{}' {}", name, shape_str(tensor->shape)));
  if (!missing_here.empty()) {
    std::string list;
    for (const auto& item : missing_here) list += (list.empty() ? "" : ", ") + item;
    problems.push_back(fmt::format("checkpoint parameters this model does not have: {}", list));
  }
  if (!problems.empty()) {
    std::string message = fmt::format("--init-from '{}' does not fit this model ({} problem{}):", path, problems.size(),
                                      problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) message += "\n  " + p;
    if (const std::string hint = shape_field_differences(source, config); !hint.empty())
      message += fmt::format("\n  (model flags differ from the checkpoint's: {})", hint);
    throw std::invalid_argument(message);
  }

  // Everything fits: read and check all values first, then copy them in place.
  std::vector<Array<float>> values;
  values.reserve(parameters.size());
  for (const auto& [name, tensor] : parameters) {
    values.push_back(source_parameters.at(name)->as<float>());
    require_finite(values.back().data(), values.back().size(), fmt::format("--init-from '{}'", path), name);
  }
  InitFromSummary s;
  s.path = path;
  s.source_step = source_run.step;
  s.source_attention = name_of(source.attention);
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    Tensor<float> target = parameters[i].second;
    std::copy(values[i].data(), values[i].data() + values[i].size(), target.data());
    ++s.tensors;
    s.values += values[i].size();
  }
  for (const auto& [name, buffer] : model.named_buffers())
    if (ends_with(name, ".projection")) s.fresh_projections = true;
  s.line = fmt::format("init-from {} (step {}, attention {}): {} parameter tensors ({:.2f}M values) copied; new run from "
                       "step 0 with a fresh optimizer",
                       path, s.source_step, s.source_attention, s.tensors, double(s.values) / 1e6);
  if (s.fresh_projections)
    s.line += fmt::format("; {} random projections drawn fresh (seed {}), not taken from the checkpoint",
                          name_of(config.attention), config.seed);
  return s;
}

}  // namespace pf::examples
