// Module: the owner of parameters, buffers and child modules.
//
// A layer derives from Module<T>, registers what it owns in its constructor, and adds its own
// forward(...). Registration gives every tensor a dotted name, recursively and in registration
// order, e.g. `blocks.0.attn.q_proj.weight`, so optimizers, checkpoints and error messages all
// speak the same (deterministic) names.
//
//   parameters: trainable leaves (requires_grad is set on registration);
//   buffers:    non-trainable state saved with the model (e.g. random projections). Change a
//               buffer in place (buffer.value() = ...), so the registry keeps seeing it;
//   children:   sub-modules, shared_ptr so a layer can keep a typed handle to its child.
//
//   class Affine : public pf::Module<float> {
//    public:
//     Affine() { w_ = register_parameter("weight", pf::Tensor<float>::ones({4})); }
//     pf::Tensor<float> forward(const pf::Tensor<float>& x) const { return x * w_; }
//    private:
//     pf::Tensor<float> w_;
//   };
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/core/named.hpp"
#include "engine/core/tensor.hpp"

namespace pf {

template <class T>
class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Modules are identities (tensors are shared handles): copying one would alias its parameters.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Parameters, buffers and children of this module and (recursively) its children, with dotted
  // names, in registration order (own tensors first, then each child in turn).
  NamedTensors<T> named_parameters() const;
  std::vector<Tensor<T>> parameters() const;
  NamedTensors<T> named_buffers() const;
  // Direct children only.
  const std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>>& named_children() const {
    return children_;
  }

  // Training mode (dropout active, ...), set recursively. Modules start in training mode.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Number of scalar parameters (buffers not counted).
  std::size_t parameter_count() const;
  // Zero every parameter's gradient.
  void zero_grad();

  // Everything a checkpoint holds: the parameters, then the buffers, by dotted name.
  NamedTensors<T> named_state() const;
  // Copies `state` into the parameters and buffers (in place: every handle stays valid).
  // Checks everything before changing anything: each tensor must be present exactly once, with
  // the expected shape, and there must be no unexpected names. Errors are
  // std::invalid_argument naming the tensor, the expected and found shapes, and `source`
  // (e.g. the file the state came from).
  void load_state(const NamedArrays<T>& state, const std::string& source = "state");

 protected:
  // Register a trainable tensor under `name` (no dots; unique within this module). Sets
  // requires_grad and returns the same handle, so `w_ = register_parameter("weight", ...)`.
  Tensor<T> register_parameter(const std::string& name, Tensor<T> tensor);
  // Register non-trainable state (saved and loaded, never given to optimizers).
  Tensor<T> register_buffer(const std::string& name, Tensor<T> tensor);
  // Register a child module; returns it, typed.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of<Module<T>, M>::value, "register_module: M must derive from Module<T>");
    add_child(name, module);
    return module;
  }

 private:
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module<T>> child);
  void collect_parameters(const std::string& prefix, NamedTensors<T>& out) const;
  void collect_buffers(const std::string& prefix, NamedTensors<T>& out) const;

  NamedTensors<T> parameters_;
  NamedTensors<T> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>> children_;
  bool training_ = true;
};

// An indexed stack of modules of one type M, named "0", "1", ... (as PyTorch's ModuleList), so
// a stack of blocks gives names like `blocks.3.attn.q_proj.weight`.
template <class T, class M = Module<T>>
class ModuleList : public Module<T> {
 public:
  ModuleList() = default;
  // Appends (and registers) a module; returns it.
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    items_.push_back(this->register_module(std::to_string(items_.size()), std::move(module)));
    return items_.back();
  }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  M& operator[](std::size_t i) const { return *items_[i]; }
  // Bounds-checked access (std::out_of_range).
  M& at(std::size_t i) const { return *items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace pf
