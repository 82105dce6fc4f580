#include "text_sampling.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/kernels/simd.hpp"
#include "engine/ops/shape_ops.hpp"

namespace pf::examples {

// Candidates in order of decreasing logit (all tokens, or the top k); with weights
// w_i = exp((logit_i - top) / temperature), the first candidate whose running sum passes a draw
// u in [0, total) is the token. The order comes from a heap, popped only as far as the draw goes
// (usually a few tokens), not from sorting the vocabulary; the exponentials run on SIMD batches.
std::size_t sample_token(const float* logits, std::size_t vocab, const SamplingOptions& options, Rng& rng) {
  if (options.temperature <= 0)
    return static_cast<std::size_t>(std::max_element(logits, logits + vocab) - logits);
  thread_local std::vector<std::pair<float, std::size_t>> heap, kept;
  thread_local std::vector<double> scaled, weights;
  const std::size_t keep = options.top_k == 0 ? vocab : std::min(options.top_k, vocab);
  const auto lower = [](const std::pair<float, std::size_t>& a, const std::pair<float, std::size_t>& b) {
    return a.first < b.first;
  };
  heap.resize(vocab);
  for (std::size_t v = 0; v < vocab; ++v) heap[v] = {logits[v], v};
  std::make_heap(heap.begin(), heap.end(), lower);
  const auto pop = [&] {
    std::pop_heap(heap.begin(), heap.end(), lower);
    const std::pair<float, std::size_t> top = heap.back();
    heap.pop_back();
    return top;
  };
  const double top = heap.front().first;
  scaled.resize(vocab);
  weights.resize(vocab);
  for (std::size_t v = 0; v < vocab; ++v) scaled[v] = (double(logits[v]) - top) / options.temperature;
  detail::simd_map_serial(scaled.data(), weights.data(), vocab, [](xsimd::batch<double> x) { return xsimd::exp(x); });
  double total = 0;
  kept.clear();
  if (keep == vocab) {
    for (std::size_t v = 0; v < vocab; ++v) total += weights[v];
  } else {
    for (std::size_t i = 0; i < keep; ++i) {
      kept.push_back(pop());
      total += weights[kept.back().second];
    }
  }
  double u = rng.uniform() * total;
  std::size_t token = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    token = keep == vocab ? pop().second : kept[i].second;
    u -= weights[token];
    if (u < 0) return token;
  }
  return token;
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

Indices row_of(const std::vector<std::size_t>& tokens, std::size_t begin) {
  Indices ids = Indices::from_shape({1, tokens.size() - begin});
  for (std::size_t t = begin; t < tokens.size(); ++t) ids(0, t - begin) = static_cast<std::int64_t>(tokens[t]);
  return ids;
}

}  // namespace

Rng sample_stream(std::uint64_t seed, std::size_t i) { return Rng(seed + 0x9E3779B97F4A7C15ULL * i); }

RecurrentGeneration::RecurrentGeneration(const PerformerLM<float>& model, const std::vector<std::size_t>& prompt,
                                         std::size_t sequences, WeightStorage weights)
    : decoder_(model, (model.config().positions == PositionKind::learned ? 2 : 1) * sequences, weights),
      sequences_(sequences),
      vocab_(model.config().vocab),
      context_(model.config().context) {
  if (prompt.empty()) throw std::invalid_argument("RecurrentGeneration: the prompt must not be empty");
  if (model.config().positions == PositionKind::learned) half_ = std::max<std::size_t>(1, context_ / 2);
  // The prompt is the same for every sequence: one prefill (batch 1), copied to the other rows.
  std::size_t begin = 0;
  if (bounded() && prompt.size() > context_) begin = window_start_ = prompt.size() - half_;
  const Tensor<float> first = decoder_.prefill(0, row_of(prompt, begin));
  const std::size_t in_window = prompt.size() - begin;
  if (bounded() && in_window > half_) decoder_.prefill(sequences_, row_of(prompt, begin + half_));
  for (std::size_t i = 1; i < sequences_; ++i) decoder_.copy_row(0, i);
  if (bounded() && in_window > half_)
    for (std::size_t i = 1; i < sequences_; ++i) decoder_.copy_row(sequences_, sequences_ + i);
  logits_.resize(sequences_ * vocab_);
  for (std::size_t i = 0; i < sequences_; ++i) std::copy_n(first.data(), vocab_, logits_.data() + i * vocab_);
  last_tokens_.assign(sequences_, static_cast<std::int64_t>(prompt.back()));
}

void RecurrentGeneration::step_rows(const std::vector<std::int64_t>& tokens, std::size_t row0) {
  const float* logits = decoder_.step(tokens.data(), row0, tokens.size());
  if (row0 == 0) std::copy_n(logits, sequences_ * vocab_, logits_.data());
}

// The window of row i holds tokens [window_start, t); the next-window row i + N holds the last
// (window length - h) of them whenever the window has at least h tokens.
void RecurrentGeneration::feed(const std::vector<std::int64_t>& tokens) {
  if (tokens.size() != sequences_)
    throw std::invalid_argument(fmt::format("RecurrentGeneration::feed: {} tokens for {} sequences", tokens.size(),
                                            sequences_));
  if (!bounded()) {
    step_rows(tokens, 0);
    return;
  }
  if (decoder_.position(0) == context_) {  // the window is full: the next window takes over
    for (std::size_t i = 0; i < sequences_; ++i) {
      decoder_.copy_row(sequences_ + i, i);
      decoder_.reset_row(sequences_ + i);
    }
    window_start_ += half_;
    // The new next window starts h tokens after the new window: for an odd context that is one
    // token back (the one fed last), which it takes now.
    if (context_ >= 2 * half_ + 1) step_rows(last_tokens_, sequences_);
  }
  if (decoder_.position(0) >= half_) {
    std::vector<std::int64_t> both(tokens);
    both.insert(both.end(), tokens.begin(), tokens.end());
    step_rows(both, 0);
  } else {
    step_rows(tokens, 0);
  }
  last_tokens_ = tokens;
}

SamplingResult generate_text(PerformerLM<float>& model, const std::string& prompt, const SamplingOptions& options,
                             Rng& rng) {
  std::vector<Rng> rngs{rng};
  SamplingResult result = generate_samples(model, prompt, options, rngs);
  rng = rngs[0];
  return result;
}

SamplingResult generate_samples(PerformerLM<float>& model, const std::string& prompt, const SamplingOptions& options,
                                std::vector<Rng>& rngs) {
  if (prompt.empty()) throw std::invalid_argument("generate_text: the prompt must not be empty");
  if (rngs.empty()) throw std::invalid_argument("generate_text: at least one sample (one generator) is needed");
  const PerformerConfig& config = model.config();
  if (config.vocab < 256) throw std::invalid_argument(fmt::format("generate_text: a byte model needs vocab >= 256, got {}", config.vocab));
  NoGradGuard no_grad;
  model.eval();
  const std::size_t N = rngs.size();
  SamplingResult result;
  result.recurrent = model.supports_recurrent_generation();
  result.samples.assign(N, std::string());
  std::vector<std::size_t> history;
  for (unsigned char c : prompt) history.push_back(c);

  if (result.recurrent) {
    RecurrentGeneration generation(model, history, N, options.weights);
    std::vector<std::int64_t> tokens(N);
    for (std::size_t step = 0; step < options.length; ++step) {
      const auto t0 = Clock::now();
      for (std::size_t i = 0; i < N; ++i) {
        tokens[i] = static_cast<std::int64_t>(sample_token(generation.logits(i), config.vocab, options, rngs[i]));
        result.samples[i] += static_cast<char>(tokens[i]);
      }
      generation.feed(tokens);
      result.seconds_per_token.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    result.text = result.samples[0];
    return result;
  }
  const std::size_t context = config.context;
  std::vector<std::vector<std::size_t>> histories(N, history);
  for (std::size_t step = 0; step < options.length; ++step) {
    const auto t0 = Clock::now();
    for (std::size_t s = 0; s < N; ++s) {
      std::vector<std::size_t>& h = histories[s];
      const std::size_t n = std::min(h.size(), context);
      Indices ids = Indices::from_shape({1, n});
      for (std::size_t t = 0; t < n; ++t) ids(0, t) = static_cast<std::int64_t>(h[h.size() - n + t]);
      const Tensor<float> logits = model.forward(ids);
      const std::size_t token = sample_token(logits.data() + (n - 1) * config.vocab, config.vocab, options, rngs[s]);
      h.push_back(token);
      result.samples[s] += static_cast<char>(token);
    }
    result.seconds_per_token.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  result.text = result.samples[0];
  return result;
}

}  // namespace pf::examples
