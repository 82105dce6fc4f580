#include "layers/module.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

namespace pf {

template <class T>
void Module<T>::check_new_name(const std::string& name, const char* what) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument(
        fmt::format("Module::register_{}: name '{}' must be non-empty and contain no '.'", what, name));
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& entry) { return entry.first == name; });
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    throw std::invalid_argument(
        fmt::format("Module::register_{}: name '{}' is already registered in this module", what, name));
}

template <class T>
Tensor<T> Module<T>::register_parameter(const std::string& name, Tensor<T> tensor) {
  check_new_name(name, "parameter");
  tensor.set_requires_grad(true);  // throws unless tensor is a leaf
  parameters_.emplace_back(name, tensor);
  return tensor;
}

template <class T>
Tensor<T> Module<T>::register_buffer(const std::string& name, Tensor<T> tensor) {
  check_new_name(name, "buffer");
  if (tensor.requires_grad())
    throw std::invalid_argument(
        fmt::format("Module::register_buffer: buffer '{}' requires grad; buffers are not trained", name));
  buffers_.emplace_back(name, tensor);
  return tensor;
}

template <class T>
void Module<T>::add_child(const std::string& name, std::shared_ptr<Module<T>> child) {
  check_new_name(name, "module");
  if (!child) throw std::invalid_argument(fmt::format("Module::register_module: '{}' is null", name));
  if (child.get() == this)
    throw std::invalid_argument(fmt::format("Module::register_module: '{}' is the module itself", name));
  child->train(training_);
  children_.emplace_back(name, std::move(child));
}

template <class T>
void Module<T>::collect_parameters(const std::string& prefix, NamedTensors<T>& out) const {
  for (const auto& [name, tensor] : parameters_) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

template <class T>
void Module<T>::collect_buffers(const std::string& prefix, NamedTensors<T>& out) const {
  for (const auto& [name, tensor] : buffers_) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

template <class T>
NamedTensors<T> Module<T>::named_parameters() const {
  NamedTensors<T> out;
  collect_parameters("", out);
  return out;
}

template <class T>
std::vector<Tensor<T>> Module<T>::parameters() const {
  std::vector<Tensor<T>> out;
  for (auto& entry : named_parameters()) out.push_back(entry.second);
  return out;
}

template <class T>
NamedTensors<T> Module<T>::named_buffers() const {
  NamedTensors<T> out;
  collect_buffers("", out);
  return out;
}

template <class T>
void Module<T>::train(bool on) {
  training_ = on;
  for (auto& entry : children_) entry.second->train(on);
}

template <class T>
std::size_t Module<T>::parameter_count() const {
  std::size_t n = 0;
  for (const auto& entry : named_parameters()) n += entry.second.numel();
  return n;
}

template <class T>
void Module<T>::zero_grad() {
  for (auto& entry : named_parameters()) entry.second.zero_grad();
}

template <class T>
NamedTensors<T> Module<T>::named_state() const {
  NamedTensors<T> out = named_parameters();
  collect_buffers("", out);
  return out;
}

template <class T>
void Module<T>::load_state(const NamedArrays<T>& state, const std::string& source) {
  NamedTensors<T> expected = named_state();
  std::map<std::string, const Array<T>*> given;
  for (const auto& [name, array] : state)
    if (!given.emplace(name, &array).second)
      throw std::invalid_argument(fmt::format("load_state: {} holds tensor '{}' twice", source, name));
  // Validate everything first, so a bad file leaves the module untouched.
  std::vector<std::string> missing;
  for (const auto& [name, tensor] : expected) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(fmt::format("'{}' {}", name, shape_str(tensor.shape())));
      continue;
    }
    const Shape found = to_shape(it->second->shape());
    if (found != tensor.shape())
      throw std::invalid_argument(fmt::format("load_state: tensor '{}' in {} has shape {}, expected {}",
                                              name, source, shape_str(found), shape_str(tensor.shape())));
  }
  if (!missing.empty())
    throw std::invalid_argument(fmt::format("load_state: {} is missing {} tensor(s): {}", source,
                                            missing.size(), fmt::join(missing, ", ")));
  if (given.size() != expected.size()) {
    std::vector<std::string> unexpected;
    for (const auto& [name, array] : state) {
      const bool known = std::any_of(expected.begin(), expected.end(),
                                     [&, &n = name](const auto& entry) { return entry.first == n; });
      if (!known) unexpected.push_back(fmt::format("'{}' {}", name, shape_str(to_shape(array.shape()))));
    }
    throw std::invalid_argument(fmt::format("load_state: {} has {} unexpected tensor(s) the model does not have: {}",
                                            source, unexpected.size(), fmt::join(unexpected, ", ")));
  }
  for (auto& [name, tensor] : expected) {
    const Array<T>& src = *given.at(name);
    std::copy(src.data(), src.data() + src.size(), tensor.data());
  }
}

template class Module<float>;
template class Module<double>;

}  // namespace pf
