#include "engine/optim/optimizers.hpp"

#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace pf {

// ---- Optimizer -----------------------------------------------------------------------------

template <class T>
Optimizer<T>::Optimizer(NamedTensors<T> params, double lr, std::string kind)
    : params_(std::move(params)), lr_(lr), kind_(std::move(kind)) {
  if (!(lr >= 0)) throw std::invalid_argument(fmt::format("{}: learning rate must be >= 0, got {}", kind_, lr));
  std::unordered_set<std::string> seen;
  for (const auto& [name, tensor] : params_) {
    if (!seen.insert(name).second)
      throw std::invalid_argument(fmt::format("{}: parameter '{}' is listed twice", kind_, name));
    if (!tensor.node()->is_leaf())
      throw std::invalid_argument(fmt::format("{}: parameter '{}' is the output of {}, not a leaf", kind_,
                                              name, tensor.op_name()));
  }
}

template <class T>
void Optimizer<T>::set_lr(double lr) {
  if (!(lr >= 0)) throw std::invalid_argument(fmt::format("{}: learning rate must be >= 0, got {}", kind_, lr));
  lr_ = lr;
}

template <class T>
std::size_t Optimizer<T>::add_slot(const std::string& name) {
  std::vector<Array<T>> buffers;
  for (const auto& entry : params_) buffers.push_back(filled_array<T>(entry.second.shape(), T(0)));
  slot_names_.push_back(name);
  slots_.push_back(std::move(buffers));
  return slots_.size() - 1;
}

template <class T>
void Optimizer<T>::step() {
  ++step_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor<T>& p = params_[i].second;
    if (!p.has_grad()) continue;
    update(i, p.data(), p.grad().data(), p.numel());
  }
}

template <class T>
void Optimizer<T>::zero_grad() {
  for (auto& entry : params_) entry.second.zero_grad();
}

template <class T>
OptimizerState<T> Optimizer<T>::export_state() const {
  OptimizerState<T> state;
  for (std::size_t s = 0; s < slots_.size(); ++s)
    for (std::size_t i = 0; i < params_.size(); ++i)
      state.arrays.emplace_back(kind_ + "." + slot_names_[s] + "." + params_[i].first, slots_[s][i]);
  // fmt prints the shortest decimal that parses back to the same double.
  state.scalars[kind_ + ".step"] = fmt::format("{}", step_);
  state.scalars[kind_ + ".lr"] = fmt::format("{}", lr_);
  return state;
}

template <class T>
void Optimizer<T>::import_state(const OptimizerState<T>& state, const std::string& source) {
  auto scalar = [&](const std::string& key) -> const std::string& {
    auto it = state.scalars.find(key);
    if (it == state.scalars.end())
      throw std::invalid_argument(fmt::format("{}::import_state: {} has no '{}' (is it {} state?)", kind_,
                                              source, key, kind_));
    return it->second;
  };
  const std::string& step_text = scalar(kind_ + ".step");
  const std::string& lr_text = scalar(kind_ + ".lr");
  std::size_t used = 0;
  std::int64_t step = -1;
  double lr = -1;
  try {
    step = std::stoll(step_text, &used);
    if (used != step_text.size()) step = -1;
    lr = std::stod(lr_text, &used);
    if (used != lr_text.size()) lr = -1;
  } catch (const std::exception&) {
  }
  if (step < 0 || !(lr >= 0))
    throw std::invalid_argument(fmt::format("{}::import_state: {} has a bad step '{}' or lr '{}'", kind_,
                                            source, step_text, lr_text));

  std::unordered_map<std::string, const Array<T>*> given;
  for (const auto& [name, array] : state.arrays)
    if (!given.emplace(name, &array).second)
      throw std::invalid_argument(fmt::format("{}::import_state: {} holds '{}' twice", kind_, source, name));
  for (std::size_t s = 0; s < slots_.size(); ++s)
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const std::string name = kind_ + "." + slot_names_[s] + "." + params_[i].first;
      auto it = given.find(name);
      if (it == given.end())
        throw std::invalid_argument(fmt::format("{}::import_state: {} is missing '{}'", kind_, source, name));
      const Shape found = to_shape(it->second->shape()), expected = params_[i].second.shape();
      if (found != expected)
        throw std::invalid_argument(fmt::format("{}::import_state: '{}' in {} has shape {}, expected {}", kind_,
                                                name, source, shape_str(found), shape_str(expected)));
    }
  if (given.size() != slots_.size() * params_.size())
    for (const auto& [name, array] : state.arrays) {
      bool known = false;
      for (std::size_t s = 0; s < slots_.size() && !known; ++s)
        for (std::size_t i = 0; i < params_.size() && !known; ++i)
          known = name == kind_ + "." + slot_names_[s] + "." + params_[i].first;
      if (!known)
        throw std::invalid_argument(fmt::format("{}::import_state: {} has unexpected entry '{}' {}", kind_,
                                                source, name, shape_str(to_shape(array.shape()))));
    }
  for (std::size_t s = 0; s < slots_.size(); ++s)
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Array<T>& src = *given.at(kind_ + "." + slot_names_[s] + "." + params_[i].first);
      std::copy(src.data(), src.data() + src.size(), slots_[s][i].data());
    }
  step_ = step;
  lr_ = lr;
}

// ---- SGD -----------------------------------------------------------------------------------

template <class T>
SGD<T>::SGD(NamedTensors<T> params, const SgdOptions& options)
    : Optimizer<T>(std::move(params), options.lr, "sgd"), options_(options) {
  if (options.momentum < 0 || options.weight_decay < 0 || options.dampening < 0)
    throw std::invalid_argument(fmt::format("sgd: momentum ({}), dampening ({}) and weight_decay ({}) must be >= 0",
                                            options.momentum, options.dampening, options.weight_decay));
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
    throw std::invalid_argument("sgd: Nesterov momentum needs momentum > 0 and dampening = 0");
  if (options.momentum > 0) momentum_slot_ = this->add_slot("momentum");
}

// g' = g + wd w;  b = g' (t = 1) else mu b + (1 - dampening) g';  d = g' + mu b (Nesterov) else b;
// w -= lr d
template <class T>
void SGD<T>::update(std::size_t index, T* w, const T* g, std::size_t n) {
  const T lr = static_cast<T>(this->lr()), wd = static_cast<T>(options_.weight_decay);
  const T mu = static_cast<T>(options_.momentum), keep = static_cast<T>(1 - options_.dampening);
  if (options_.momentum == 0) {
    for (std::size_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);
    return;
  }
  T* b = this->slot(momentum_slot_, index);
  const bool first = this->step_count() == 1;
  for (std::size_t i = 0; i < n; ++i) {
    const T gi = g[i] + wd * w[i];
    b[i] = first ? gi : mu * b[i] + keep * gi;
    const T d = options_.nesterov ? gi + mu * b[i] : b[i];
    w[i] -= lr * d;
  }
}

// ---- Adam / AdamW --------------------------------------------------------------------------

template <class T>
Adam<T>::Adam(NamedTensors<T> params, const AdamOptions& options) : Adam(std::move(params), options, false, "adam") {}

template <class T>
Adam<T>::Adam(NamedTensors<T> params, const AdamOptions& options, bool decoupled, const char* kind)
    : Optimizer<T>(std::move(params), options.lr, kind), options_(options), decoupled_(decoupled) {
  if (!(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1))
    throw std::invalid_argument(
        fmt::format("{}: betas must be in [0, 1), got ({}, {})", kind, options.beta1, options.beta2));
  if (!(options.eps >= 0 && options.weight_decay >= 0))
    throw std::invalid_argument(
        fmt::format("{}: eps ({}) and weight_decay ({}) must be >= 0", kind, options.eps, options.weight_decay));
  m_slot_ = this->add_slot("m");
  v_slot_ = this->add_slot("v");
}

// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
// w -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)   (bias-corrected moments)
template <class T>
void Adam<T>::update(std::size_t index, T* w, const T* g, std::size_t n) {
  const double t = static_cast<double>(this->step_count());
  const T b1 = static_cast<T>(options_.beta1), b2 = static_cast<T>(options_.beta2);
  const T one_minus_b1 = static_cast<T>(1 - options_.beta1), one_minus_b2 = static_cast<T>(1 - options_.beta2);
  const T step_size = static_cast<T>(this->lr() / (1 - std::pow(options_.beta1, t)));
  const T inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(1 - std::pow(options_.beta2, t)));
  const T eps = static_cast<T>(options_.eps);
  const T wd = static_cast<T>(options_.weight_decay);
  const T decay = static_cast<T>(1 - this->lr() * options_.weight_decay);
  T* m = this->slot(m_slot_, index);
  T* v = this->slot(v_slot_, index);
  for (std::size_t i = 0; i < n; ++i) {
    T gi = g[i];
    if (decoupled_) w[i] *= decay;
    else gi += wd * w[i];
    m[i] = b1 * m[i] + one_minus_b1 * gi;
    v[i] = b2 * v[i] + one_minus_b2 * gi * gi;
    w[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

template <class T>
AdamW<T>::AdamW(NamedTensors<T> params, AdamOptions options) : Adam<T>(std::move(params), options, true, "adamw") {}

// ---- gradient clipping ---------------------------------------------------------------------

// norm = sqrt(sum over all gradients of g^2);  if norm > max_norm: g *= max_norm / (norm + 1e-6)
template <class T>
double clip_grad_norm(const std::vector<Tensor<T>>& params, double max_norm) {
  if (!(max_norm > 0)) throw std::invalid_argument(fmt::format("clip_grad_norm: max_norm must be > 0, got {}", max_norm));
  double sum_sq = 0;
  for (const Tensor<T>& p : params) {
    if (!p.has_grad()) continue;
    const T* g = p.grad().data();
    for (std::size_t i = 0, n = p.numel(); i < n; ++i) sum_sq += double(g[i]) * double(g[i]);
  }
  const double norm = std::sqrt(sum_sq);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1) {
    const T scale = static_cast<T>(coef);
    for (Tensor<T> p : params) {
      if (!p.has_grad()) continue;
      T* g = p.grad_mut().data();
      for (std::size_t i = 0, n = p.numel(); i < n; ++i) g[i] *= scale;
    }
  }
  return norm;
}

template <class T>
double clip_grad_norm(const NamedTensors<T>& params, double max_norm) {
  std::vector<Tensor<T>> list;
  for (const auto& entry : params) list.push_back(entry.second);
  return clip_grad_norm(list, max_norm);
}

#define PF_INSTANTIATE(T)                                                       \
  template class Optimizer<T>;                                                  \
  template class SGD<T>;                                                        \
  template class Adam<T>;                                                       \
  template class AdamW<T>;                                                      \
  template double clip_grad_norm<T>(const std::vector<Tensor<T>>&, double);     \
  template double clip_grad_norm<T>(const NamedTensors<T>&, double);
PF_INSTANTIATE(float)
PF_INSTANTIATE(double)
#undef PF_INSTANTIATE

}  // namespace pf
