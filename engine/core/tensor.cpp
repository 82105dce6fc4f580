#include "engine/core/tensor.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/core/profiler.hpp"

namespace pf {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::size_t shape_numel(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

// ---- Node ----------------------------------------------------------------------------------

template <class T>
Array<T>& Node<T>::grad_buffer() {
  if (!has_grad) {
    grad = filled_array<T>(to_shape(value.shape()), T(0));
    has_grad = true;
  }
  return grad;
}

template <class T>
typename Node<T>::GradTarget Node<T>::grad_target() {
  if (has_grad) return {grad.data(), T(1)};
  grad = empty_array<T>(to_shape(value.shape()));
  has_grad = true;
  return {grad.data(), T(0)};
}

template <class T>
void Node<T>::accumulate(const Array<T>& g) {
  if (g.size() != value.size())
    throw std::logic_error(fmt::format("autodiff: gradient of {} has {} elements, value has {}", op,
                                       g.size(), value.size()));
  if (!has_grad) {
    grad = g;
    grad.reshape(value.shape());
    has_grad = true;
    return;
  }
  T* dst = grad.data();
  const T* src = g.data();
  for (std::size_t i = 0, n = g.size(); i < n; ++i) dst[i] += src[i];
}

// ---- Tensor --------------------------------------------------------------------------------

template <class T>
Tensor<T>::Tensor() : node_(std::make_shared<Node<T>>()) {
  node_->value = empty_array<T>({0});
}

template <class T>
Tensor<T>::Tensor(Array<T> value, bool requires_grad) : node_(std::make_shared<Node<T>>()) {
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

template <class T>
Tensor<T> Tensor<T>::zeros(const Shape& shape, bool requires_grad) {
  return full(shape, T(0), requires_grad);
}
template <class T>
Tensor<T> Tensor<T>::ones(const Shape& shape, bool requires_grad) {
  return full(shape, T(1), requires_grad);
}
template <class T>
Tensor<T> Tensor<T>::full(const Shape& shape, T value, bool requires_grad) {
  return Tensor(filled_array<T>(shape, value), requires_grad);
}
template <class T>
Tensor<T> Tensor<T>::scalar(T value, bool requires_grad) {
  return full({}, value, requires_grad);
}

template <class T>
Tensor<T> Tensor<T>::from_vector(const Shape& shape, const std::vector<T>& data, bool requires_grad) {
  if (shape_numel(shape) != data.size())
    throw std::invalid_argument(fmt::format("Tensor::from_vector: shape {} needs {} values, got {}",
                                            shape_str(shape), shape_numel(shape), data.size()));
  Array<T> a = empty_array<T>(shape);
  std::copy(data.begin(), data.end(), a.begin());
  return Tensor(std::move(a), requires_grad);
}

template <class T>
std::size_t Tensor<T>::size(int axis) const {
  const int n = static_cast<int>(dim());
  const int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    throw std::invalid_argument(
        fmt::format("Tensor::size: axis {} is out of range for shape {}", axis, shape_str(shape())));
  return node_->value.shape()[static_cast<std::size_t>(a)];
}

template <class T>
T Tensor<T>::item() const {
  if (numel() != 1)
    throw std::invalid_argument(
        fmt::format("Tensor::item: needs exactly one element, shape is {}", shape_str(shape())));
  return *node_->value.data();
}

template <class T>
Tensor<T>& Tensor<T>::set_requires_grad(bool on) {
  if (!node_->is_leaf())
    throw std::invalid_argument(
        fmt::format("set_requires_grad: only leaf tensors can change it; this one is the output of {}",
                    node_->op));
  node_->requires_grad = on;
  return *this;
}

template <class T>
Tensor<T>& Tensor<T>::retain_grad() {
  node_->retain_grad = true;
  return *this;
}

template <class T>
const Array<T>& Tensor<T>::grad() const {
  return node_->grad_buffer();
}

template <class T>
void Tensor<T>::zero_grad() {
  if (node_->has_grad) std::fill(node_->grad.begin(), node_->grad.end(), T(0));
}

template <class T>
void Tensor<T>::backward() {
  backward(filled_array<T>(shape(), T(1)));
}

template <class T>
void Tensor<T>::backward(const Array<T>& seed) {
  if (!node_->requires_grad)
    throw std::invalid_argument(
        "backward: this tensor does not require grad (no input required grad, or it was built "
        "under NoGradGuard)");
  if (seed.size() != numel())
    throw std::invalid_argument(fmt::format("backward: seed has shape {}, tensor has shape {}",
                                            shape_str(to_shape(seed.shape())), shape_str(shape())));
  // Iterative DFS post-order gives parents before children; walk it backwards. `order` owns
  // the nodes, because the walk below lets go of each node's parents.
  std::vector<std::shared_ptr<Node<T>>> order;
  std::unordered_set<Node<T>*> visited;
  std::vector<std::pair<std::shared_ptr<Node<T>>, std::size_t>> stack{{node_, 0}};
  visited.insert(node_.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->parents.size()) {
      const std::shared_ptr<Node<T>>& parent = node->parents[next++];
      if (parent->requires_grad && visited.insert(parent.get()).second) stack.push_back({parent, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  node_->accumulate(seed);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node<T>* node = it->get();
    if (node->is_leaf()) continue;
    if (!node->backward)
      throw std::logic_error(fmt::format(
          "backward: the graph through {} was already freed by an earlier backward()", node->op));
    if (node->has_grad) {
      const OpTimer timer(node->op, /*backward=*/true);
      node->backward(node->grad, node->value);
    }
    // Free what this step no longer needs: saved activations (in the closure) and the gradient.
    // Every consumer of this node ran before it, so no backward needs its value any more: once
    // it lets go of its parents (and the walk of it), a node no tensor handle holds is freed now
    // rather than after the whole backward, which lowers the step's peak memory. The root keeps
    // its parents, so a second backward() from it still reports the freed graph.
    node->backward = nullptr;
    if (node != node_.get()) {
      node->parents.clear();
      node->released = true;
      if (!node->retain_grad) {
        node->grad = Array<T>();
        node->has_grad = false;
      }
    }
    it->reset();
  }
}

template <class T>
Tensor<T> Tensor<T>::detach() const {
  return Tensor(node_->value, false);
}

// ---- gradient mode -------------------------------------------------------------------------

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

template <class T>
bool needs_grad(std::initializer_list<const Tensor<T>*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor<T>* t : inputs)
    if (t->requires_grad()) return true;
  return false;
}

template <class T>
Tensor<T> make_result(Array<T> value, const char* op, std::vector<Tensor<T>> inputs,
                      BackwardFn<T> backward) {
  auto node = std::make_shared<Node<T>>();
  node->value = std::move(value);
  node->op = op;
  bool record = false;
  if (g_grad_enabled)
    for (const Tensor<T>& t : inputs) record = record || t.requires_grad();
  if (record) {
    node->requires_grad = true;
    for (const Tensor<T>& t : inputs) node->parents.push_back(t.node());
    node->backward = std::move(backward);
  }
  return Tensor<T>(std::move(node));
}

template struct Node<float>;
template struct Node<double>;
template class Tensor<float>;
template class Tensor<double>;
template bool needs_grad<float>(std::initializer_list<const Tensor<float>*>);
template bool needs_grad<double>(std::initializer_list<const Tensor<double>*>);
template Tensor<float> make_result(Array<float>, const char*, std::vector<Tensor<float>>,
                                   BackwardFn<float>);
template Tensor<double> make_result(Array<double>, const char*, std::vector<Tensor<double>>,
                                    BackwardFn<double>);

}  // namespace pf
