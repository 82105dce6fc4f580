#include "trained_attention_error.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>

#include "layers/layer_norm.hpp"

namespace pf::examples {
namespace {

// A twin of `layer` with `kernel`: the layer's q/k/v weights and (for FAVOR) its projection and
// generator, an identity output projection, no redraw schedule.
std::unique_ptr<MultiHeadAttention<float>> twin(const MultiHeadAttention<float>& layer, AttentionKernel kernel) {
  MultiHeadAttentionConfig config = layer.config();
  config.kernel = kernel;
  config.redraw_interval = 0;
  Rng unused(1);  // the weights are all replaced below
  auto copy = std::make_unique<MultiHeadAttention<float>>(config, unused);
  const std::size_t D = config.model_width;
  NamedArrays<float> state;
  for (const auto& [name, tensor] : copy->named_state()) {
    if (name == "out_proj.weight") {
      state.emplace_back(name, Array<float>(xt::eye<float>(D)));
    } else if (name == "out_proj.bias") {
      state.emplace_back(name, Array<float>(xt::zeros<float>({D})));
    } else {
      bool found = false;
      for (const auto& [layer_name, layer_tensor] : layer.named_state())
        if (layer_name == name) {
          state.emplace_back(name, layer_tensor.value());
          found = true;
        }
      if (!found) throw std::logic_error(fmt::format("attention twin: the layer has no '{}'", name));
    }
  }
  copy->load_state(state, "the measured layer");
  copy->eval();
  return copy;
}

// Sum over unpadded rows (b, l) of |a - b|^2 (or |a|^2 when b is null), a and b [B, L, D].
double squared_norm(const Tensor<float>& a, const Tensor<float>* b, const Mask* key_padding) {
  const std::size_t B = a.size(0), L = a.size(1), D = a.size(2);
  double sum = 0;
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t l = 0; l < L; ++l) {
      if (key_padding && (*key_padding)(i, l)) continue;
      const float* x = a.data() + (i * L + l) * D;
      const float* y = b ? b->data() + (i * L + l) * D : nullptr;
      for (std::size_t c = 0; c < D; ++c) {
        const double e = double(x[c]) - (y ? double(y[c]) : 0.0);
        sum += e * e;
      }
    }
  return sum;
}

}  // namespace

AttentionOutputs attention_outputs(const MultiHeadAttention<float>& layer, const Tensor<float>& x,
                                   const Mask* key_padding, bool redraw) {
  const AttentionKernel kernel = layer.config().kernel;
  if (kernel == AttentionKernel::exact)
    throw std::invalid_argument("attention error: the layer has exact attention; a FAVOR model is needed");
  NoGradGuard no_grad;
  auto favor = twin(layer, kernel);
  auto exact = twin(layer, AttentionKernel::exact);
  if (redraw) favor->redraw_projection();
  return {favor->forward(x, key_padding), exact->forward(x, key_padding)};
}

double LayerAttentionError::before() const { return exact_sq > 0 ? std::sqrt(before_sq / exact_sq) : NAN; }
double LayerAttentionError::after() const { return exact_sq > 0 ? std::sqrt(after_sq / exact_sq) : NAN; }

void add_attention_errors(PerformerStack<float>& stack, const Indices& ids, const Mask* key_padding,
                          std::vector<LayerAttentionError>& errors) {
  NoGradGuard no_grad;
  const bool was_training = stack.is_training();
  stack.eval();
  if (errors.empty())
    for (std::size_t i = 0; i < stack.depth(); ++i) errors.push_back({i});
  if (errors.size() != stack.depth())
    throw std::invalid_argument(
        fmt::format("attention error: {} layers accumulated so far, the model has {}", errors.size(), stack.depth()));
  Tensor<float> x = stack.embed(ids);
  for (std::size_t i = 0; i < stack.depth(); ++i) {
    PerformerBlock<float>& block = stack.block(i);
    const LayerNorm<float>* norm = nullptr;
    for (const auto& [name, child] : block.named_children())
      if (name == "norm_1") norm = dynamic_cast<const LayerNorm<float>*>(child.get());
    if (!norm) throw std::logic_error("attention error: a block without its norm_1 LayerNorm");
    const Tensor<float> h = norm->forward(x);
    const AttentionOutputs now = attention_outputs(block.attention(), h, key_padding, false);
    const AttentionOutputs redrawn = attention_outputs(block.attention(), h, key_padding, true);
    errors[i].exact_sq += squared_norm(now.exact, nullptr, key_padding);
    errors[i].before_sq += squared_norm(now.favor, &now.exact, key_padding);
    errors[i].after_sq += squared_norm(redrawn.favor, &redrawn.exact, key_padding);
    x = block.forward(x, key_padding);
  }
  if (was_training) stack.train();
}

}  // namespace pf::examples
