// Optimizers over named parameters: SGD (momentum, Nesterov, weight decay), Adam, AdamW.
//
// The update rules are PyTorch's (torch.optim docs), with g the gradient, w the parameter,
// t the step count (1 on the first step), lr the learning rate:
//   SGD:   g += wd w;  b = g (t = 1) or mu b + (1 - dampening) g;  g = g + mu b (Nesterov) or b;
//          w -= lr g
//   Adam:  g += wd w (L2, coupled);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//          w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW: w *= 1 - lr wd (decoupled), then Adam's update without the L2 term.
// Parameters whose gradient was never accumulated (has_grad() false) are skipped, as PyTorch
// skips grad=None; their state does not move. The step count is shared by all parameters.
//
// State for checkpoints: export_state() gives the per-parameter buffers as named arrays
// ("adam.m.<param>", "adam.v.<param>", "sgd.momentum.<param>") and the scalars as exact
// decimal strings ("adam.step", "adam.lr"); import_state() of that state makes the next steps
// bit-identical to an optimizer that never stopped.
//
//   pf::AdamOptions options;
//   options.lr = 1e-3;
//   pf::Adam<float> opt(model.named_parameters(), options);
//   loss.backward(); pf::clip_grad_norm(model.named_parameters(), 1.0); opt.step(); opt.zero_grad();
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/named.hpp"
#include "engine/core/tensor.hpp"

namespace pf {

template <class T>
struct OptimizerState {
  NamedArrays<T> arrays;                       // per-parameter buffers
  std::map<std::string, std::string> scalars;  // step count, lr (exact round-trip decimals)
};

template <class T>
class Optimizer {
 public:
  Optimizer(NamedTensors<T> params, double lr, std::string kind);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; increments step_count() first.
  void step();
  // Zero every parameter's gradient.
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  std::int64_t step_count() const { return step_; }
  // "sgd", "adam", "adamw": also the prefix of the exported state names.
  const std::string& kind() const { return kind_; }
  const NamedTensors<T>& params() const { return params_; }

  OptimizerState<T> export_state() const;
  // Checks every name and shape (std::invalid_argument naming the entry and `source`) before
  // changing anything.
  void import_state(const OptimizerState<T>& state, const std::string& source = "optimizer state");

 protected:
  // Adds a per-parameter buffer (zeros, one per parameter) called `name`; returns its index.
  std::size_t add_slot(const std::string& name);
  T* slot(std::size_t slot_index, std::size_t param_index) { return slots_[slot_index][param_index].data(); }
  // Update parameter `index` (n values w) from its gradient g; step_count() is already t.
  virtual void update(std::size_t index, T* w, const T* g, std::size_t n) = 0;

 private:
  NamedTensors<T> params_;
  double lr_;
  std::string kind_;
  std::int64_t step_ = 0;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Array<T>>> slots_;  // [slot][param]
};

struct SgdOptions {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening = 0
};

template <class T>
class SGD : public Optimizer<T> {
 public:
  SGD(NamedTensors<T> params, const SgdOptions& options);
  const SgdOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, T* w, const T* g, std::size_t n) override;

 private:
  SgdOptions options_;
  std::size_t momentum_slot_ = 0;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // Adam: L2 added to the gradient; AdamW: decoupled decay
};

template <class T>
class Adam : public Optimizer<T> {
 public:
  Adam(NamedTensors<T> params, const AdamOptions& options);
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(NamedTensors<T> params, const AdamOptions& options, bool decoupled, const char* kind);
  void update(std::size_t index, T* w, const T* g, std::size_t n) override;

 private:
  AdamOptions options_;
  bool decoupled_;
  std::size_t m_slot_ = 0, v_slot_ = 0;
};

// Adam with decoupled weight decay (Loshchilov & Hutter); weight_decay defaults to 0.01 as in
// PyTorch.
template <class T>
class AdamW : public Adam<T> {
 public:
  AdamW(NamedTensors<T> params, AdamOptions options = adamw_defaults());
  static AdamOptions adamw_defaults() {
    AdamOptions o;
    o.weight_decay = 0.01;
    return o;
  }
};

// Scales all gradients together so their global L2 norm is at most max_norm (by
// max_norm / (norm + 1e-6), as PyTorch); returns the norm before clipping. Tensors without a
// gradient are ignored.
template <class T>
double clip_grad_norm(const NamedTensors<T>& params, double max_norm);
template <class T>
double clip_grad_norm(const std::vector<Tensor<T>>& params, double max_norm);

}  // namespace pf
