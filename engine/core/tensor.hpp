// Tensor and the autodiff tape.
//
// A Tensor<T> is a handle to a Node: the value (a contiguous row-major xtensor array), the
// gradient (allocated on first accumulation), and, for results of ops, the parent nodes plus one
// closure that pushes this node's gradient into the parents' gradients. backward() sorts the
// graph topologically once and runs the closures in reverse order. That is the whole mechanism.
//
// T is float (training) or double (gradient checks); every op is instantiated for both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "engine/core/memory.hpp"

namespace pf {

template <class T>
using Array = xt::xarray<T, xt::layout_type::row_major, PoolAllocator<T>>;
using Shape = std::vector<std::size_t>;
// Integer indices (token ids, class targets), shaped like any array.
using Indices = xt::xarray<std::int64_t, xt::layout_type::row_major, PoolAllocator<std::int64_t>>;
// Byte masks (nonzero = masked).
using Mask = xt::xarray<std::uint8_t, xt::layout_type::row_major, PoolAllocator<std::uint8_t>>;

// "[2,3,4]"
std::string shape_str(const Shape& shape);
template <class S>
Shape to_shape(const S& s) {
  return Shape(s.begin(), s.end());
}
std::size_t shape_numel(const Shape& shape);

// An uninitialised array of the given shape (contents are garbage until written). A shape whose
// element count overflows (which xtensor would wrap into a small buffer) throws
// TensorAllocationError.
template <class T>
Array<T> empty_array(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) {
      long double bytes = sizeof(T);
      for (std::size_t e : shape) bytes *= (long double)e;
      throw TensorAllocationError(bytes, memory_stats().live_bytes);
    }
  Array<T> a;
  a.resize(shape);
  return a;
}
template <class T>
Array<T> filled_array(const Shape& shape, T value) {
  Array<T> a = empty_array<T>(shape);
  std::fill(a.begin(), a.end(), value);
  return a;
}

template <class T>
using BackwardFn = std::function<void(const Array<T>& grad_out, const Array<T>& out)>;

template <class T>
struct Node {
  Array<T> value;
  Array<T> grad;  // meaningful only when has_grad
  bool has_grad = false;
  bool requires_grad = false;
  bool retain_grad = false;  // keep the gradient of a non-leaf after backward
  const char* op = "leaf";
  std::vector<std::shared_ptr<Node>> parents;
  // Reads this node's gradient (and, if it needs it, this node's value) and accumulates into the
  // parents' gradients.
  BackwardFn<T> backward;

  // An op's output whose backward has run: its parents were let go (see Tensor::backward).
  bool released = false;
  bool is_leaf() const { return parents.empty() && !released; }
  // This node's gradient buffer, zero-filled on first use; ops accumulate into it.
  Array<T>& grad_buffer();
  // For a kernel that computes grad = beta grad + its contribution and writes every element (a
  // GEMM with its beta): on first use the buffer is not zero-filled and beta is 0 (the kernel
  // overwrites it: no fill pass, no read of zeros), afterwards beta is 1.
  struct GradTarget {
    T* data;
    T beta;
  };
  GradTarget grad_target();
  // grad += g (g must have the value's shape).
  void accumulate(const Array<T>& g);
};

template <class T>
class Tensor {
 public:
  Tensor();  // an empty 0-element tensor
  explicit Tensor(Array<T> value, bool requires_grad = false);
  explicit Tensor(std::shared_ptr<Node<T>> node) : node_(std::move(node)) {}

  static Tensor zeros(const Shape& shape, bool requires_grad = false);
  static Tensor ones(const Shape& shape, bool requires_grad = false);
  static Tensor full(const Shape& shape, T value, bool requires_grad = false);
  static Tensor scalar(T value, bool requires_grad = false);
  // Row-major data; throws if data.size() does not match the shape.
  static Tensor from_vector(const Shape& shape, const std::vector<T>& data, bool requires_grad = false);

  const Array<T>& value() const& { return node_->value; }
  // Mutable access, for optimizers and initialisers; do not change the shape of an op's input.
  Array<T>& value() & { return node_->value; }
  // On a temporary tensor, a copy: a reference would dangle, as in `for (x : softmax(t).value())`.
  Array<T> value() && { return node_->value; }
  T* data() { return node_->value.data(); }
  const T* data() const { return node_->value.data(); }

  Shape shape() const { return to_shape(node_->value.shape()); }
  std::size_t dim() const { return node_->value.dimension(); }
  // Size of axis i; negative i counts from the end.
  std::size_t size(int axis) const;
  std::size_t numel() const { return node_->value.size(); }
  // The single value of a one-element tensor.
  T item() const;

  bool requires_grad() const { return node_->requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  Tensor& retain_grad();
  bool has_grad() const { return node_->has_grad; }
  // Gradient (zeros of the value's shape if nothing was accumulated yet).
  const Array<T>& grad() const;
  Array<T>& grad_mut() { return node_->grad_buffer(); }
  void zero_grad();

  // Reverse-mode sweep from this tensor, seeded with ones (d sum(this) / d inputs).
  void backward();
  // ... seeded with an explicit gradient of this tensor's shape.
  void backward(const Array<T>& seed);

  // Same value, cut from the graph.
  Tensor detach() const;
  const char* op_name() const { return node_->op; }

  const std::shared_ptr<Node<T>>& node() const { return node_; }
  bool same_node(const Tensor& other) const { return node_ == other.node_; }

 private:
  std::shared_ptr<Node<T>> node_;
};

// ---- gradient mode -------------------------------------------------------------------------

bool grad_enabled();
// While alive, ops record nothing on the tape (inference, optimizer updates, evaluation).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// ---- building ops --------------------------------------------------------------------------

// The result of an op: a new node holding `value`. If gradients are enabled and any input needs
// one, the node records `inputs` and `backward`; otherwise it is a constant leaf and
// `backward` is dropped (so saved activations are freed at once).
template <class T>
Tensor<T> make_result(Array<T> value, const char* op, std::vector<Tensor<T>> inputs,
                      BackwardFn<T> backward);

// True when an op on these inputs must record itself.
template <class T>
bool needs_grad(std::initializer_list<const Tensor<T>*> inputs);

}  // namespace pf
