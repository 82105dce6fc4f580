#include "text_sampling.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/ops/shape_ops.hpp"

namespace pf::examples {

std::size_t sample_token(const float* logits, std::size_t vocab, const SamplingOptions& options, Rng& rng) {
  std::vector<std::size_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  if (options.temperature <= 0)
    return static_cast<std::size_t>(std::max_element(logits, logits + vocab) - logits);
  std::size_t keep = options.top_k == 0 ? vocab : std::min(options.top_k, vocab);
  std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                    [&](std::size_t a, std::size_t b) { return logits[a] > logits[b]; });
  const double top = logits[order[0]];
  std::vector<double> weights(keep);
  double total = 0;
  for (std::size_t i = 0; i < keep; ++i) total += weights[i] = std::exp((logits[order[i]] - top) / options.temperature);
  double u = rng.uniform() * total;
  for (std::size_t i = 0; i < keep; ++i) {
    u -= weights[i];
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

std::string printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\n' || c == '\t' || (c >= 32 && c < 127)) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

Indices single(std::size_t token) {
  Indices t = Indices::from_shape({1});
  t(0) = static_cast<std::int64_t>(token);
  return t;
}

// Feed tokens into a fresh state; returns the logits after the last one.
Tensor<float> prime(PerformerLM<float>& model, const std::vector<std::size_t>& tokens, PerformerLM<float>::State& state) {
  state = model.initial_state(1);
  Tensor<float> logits;
  for (std::size_t t : tokens) logits = model.step(single(t), state);
  return logits;
}

}  // namespace

SamplingResult generate_text(PerformerLM<float>& model, const std::string& prompt, const SamplingOptions& options,
                             Rng& rng) {
  if (prompt.empty()) throw std::invalid_argument("generate_text: the prompt must not be empty");
  const PerformerConfig& config = model.config();
  if (config.vocab < 256) throw std::invalid_argument(fmt::format("generate_text: a byte model needs vocab >= 256, got {}", config.vocab));
  NoGradGuard no_grad;
  model.eval();
  SamplingResult result;
  result.recurrent = model.supports_recurrent_generation();
  std::vector<std::size_t> history;
  for (unsigned char c : prompt) history.push_back(c);
  const std::size_t context = config.context;
  const bool bounded_positions = config.positions == PositionKind::learned;

  if (result.recurrent) {
    PerformerLM<float>::State state;
    const std::size_t start = bounded_positions && history.size() > context ? history.size() - context / 2 : 0;
    Tensor<float> logits = prime(model, std::vector<std::size_t>(history.begin() + start, history.end()), state);
    for (std::size_t i = 0; i < options.length; ++i) {
      const auto t0 = Clock::now();
      const std::size_t token = sample_token(logits.data(), config.vocab, options, rng);
      history.push_back(token);
      result.text += static_cast<char>(token);
      if (bounded_positions && state.position >= context)
        logits = prime(model, std::vector<std::size_t>(history.end() - context / 2, history.end()), state);
      else
        logits = model.step(single(token), state);
      result.seconds_per_token.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return result;
  }
  for (std::size_t i = 0; i < options.length; ++i) {
    const auto t0 = Clock::now();
    const std::size_t n = std::min(history.size(), context);
    Indices ids = Indices::from_shape({1, n});
    for (std::size_t t = 0; t < n; ++t) ids(0, t) = static_cast<std::int64_t>(history[history.size() - n + t]);
    const Tensor<float> logits = model.forward(ids);
    const std::size_t token = sample_token(logits.data() + (n - 1) * config.vocab, config.vocab, options, rng);
    history.push_back(token);
    result.text += static_cast<char>(token);
    result.seconds_per_token.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return result;
}

}  // namespace pf::examples
