#include "layers/module_io.hpp"

#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/io/finite.hpp"

namespace pf {

namespace {

template <class T>
const Array<T>& values_of(const Tensor<T>& t) { return t.value(); }
template <class T>
const Array<T>& values_of(const Array<T>& a) { return a; }

// Every value of every named tensor or array finite, or an error naming the file and the tensor.
template <class T, class Named>
void require_all_finite(const Named& named, const std::string& what) {
  for (const auto& [name, t] : named) {
    const Array<T>& a = values_of(t);
    require_finite(a.data(), std::size_t(a.size()), what, name);
  }
}

}  // namespace

template <class T>
void save_module(const Module<T>& module, const std::string& path, const Metadata& metadata) {
  const NamedTensors<T> state = module.named_state();
  require_all_finite<T>(state, fmt::format("save_module: '{}' not written", path));
  save_safetensors(path, state, metadata);
}

template <class T>
Metadata load_module(Module<T>& module, const std::string& path) {
  const SafetensorsFile file = load_safetensors(path);
  const NamedArrays<T> arrays = file.arrays<T>();
  require_all_finite<T>(arrays, fmt::format("load_module: '{}'", path));
  module.load_state(arrays, path);
  return file.metadata;
}

template <class T>
void save_checkpoint(const std::string& path, const Module<T>& module, const Optimizer<T>& optimizer,
                     const Metadata& metadata) {
  const NamedTensors<T> state = module.named_state();
  const OptimizerState<T> opt = optimizer.export_state();
  const std::string refused = fmt::format("save_checkpoint: '{}' not written (the file there is kept)", path);
  require_all_finite<T>(state, refused);
  require_all_finite<T>(opt.arrays, refused);
  std::vector<TensorToSave> views;
  std::set<std::string> names;
  for (const auto& [name, tensor] : state) {
    names.insert(name);
    views.push_back(tensor_to_save(name, tensor.value()));
  }
  for (const auto& [name, array] : opt.arrays) {
    if (!names.insert(name).second)
      throw std::invalid_argument(fmt::format(
          "save_checkpoint: '{}': optimizer entry '{}' has the name of a module tensor", path, name));
    views.push_back(tensor_to_save(name, array));
  }
  Metadata all = metadata;
  for (const auto& [key, value] : opt.scalars)
    if (!all.emplace(key, value).second)
      throw std::invalid_argument(
          fmt::format("save_checkpoint: '{}': metadata key '{}' is reserved for the optimizer", path, key));
  save_safetensors(path, views, all);
}

template <class T>
Metadata load_checkpoint(const std::string& path, Module<T>& module, Optimizer<T>& optimizer) {
  return load_checkpoint(load_safetensors(path), module, optimizer);
}

template <class T>
Metadata load_checkpoint(const SafetensorsFile& file, Module<T>& module, Optimizer<T>& optimizer) {
  const std::string& path = file.path;
  const std::string prefix = optimizer.kind() + ".";
  OptimizerState<T> opt;
  NamedArrays<T> model;
  for (const LoadedTensor& t : file.tensors) {
    if (t.name.compare(0, prefix.size(), prefix) == 0) opt.arrays.emplace_back(t.name, t.as<T>());
    else model.emplace_back(t.name, t.as<T>());
  }
  opt.scalars = file.metadata;
  require_all_finite<T>(model, fmt::format("load_checkpoint: '{}'", path));
  require_all_finite<T>(opt.arrays, fmt::format("load_checkpoint: '{}'", path));
  // Each of import_state and load_state checks everything before writing; if the module part
  // fails after the optimizer took its state, put the optimizer back, so a bad file changes
  // nothing.
  const OptimizerState<T> previous = optimizer.export_state();
  optimizer.import_state(opt, path);
  try {
    module.load_state(model, path);
  } catch (...) {
    optimizer.import_state(previous, "its previous state");
    throw;
  }
  return file.metadata;
}

#define PF_INSTANTIATE(T)                                                                            \
  template void save_module<T>(const Module<T>&, const std::string&, const Metadata&);              \
  template Metadata load_module<T>(Module<T>&, const std::string&);                                 \
  template void save_checkpoint<T>(const std::string&, const Module<T>&, const Optimizer<T>&,       \
                                   const Metadata&);                                                \
  template Metadata load_checkpoint<T>(const std::string&, Module<T>&, Optimizer<T>&);              \
  template Metadata load_checkpoint<T>(const SafetensorsFile&, Module<T>&, Optimizer<T>&);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
