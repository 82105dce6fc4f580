#include "models/performer_flops.hpp"

#include "models/performer_block.hpp"

namespace pf {

double FlopCount::forward() const {
  if (!known) return 0;
  return projections + feed_forward + feature_maps + attention + input_embedding + output_head + hashing;
}

double FlopCount::backward() const {
  if (!known) return 0;
  return 2 * (projections + feed_forward + attention + output_head) + feature_maps + input_embedding;
}

FlopCount& FlopCount::operator+=(const FlopCount& other) {
  projections += other.projections;
  feed_forward += other.feed_forward;
  feature_maps += other.feature_maps;
  attention += other.attention;
  input_embedding += other.input_embedding;
  output_head += other.output_head;
  hashing += other.hashing;
  known = known && other.known;
  return *this;
}

FlopCount FlopCount::scaled(double factor) const {
  FlopCount c = *this;
  for (double* part : {&c.projections, &c.feed_forward, &c.feature_maps, &c.attention, &c.input_embedding, &c.output_head,
                        &c.hashing})
    *part *= factor;
  return c;
}

FlopCount attention_flops(AttentionKernel kernel, bool causal, std::size_t length, std::size_t head_width,
                          std::size_t features, std::size_t linformer_k, const LshOptions& lsh) {
  const double L = double(length), d = double(head_width), m = double(features);
  FlopCount c;
  switch (kernel) {
    case AttentionKernel::exact: {
      const double attended = causal ? L * (L + 1) / 2 : L * L;  // (query, key) pairs
      c.attention = attended * 2 * 2 * d;                        // q.k and p v
      return c;
    }
    case AttentionKernel::favor_positive:
    case AttentionKernel::favor_relu:
    case AttentionKernel::favor_custom:
    case AttentionKernel::favor_hyperbolic:
    case AttentionKernel::favor_trig: {
      const bool doubled = kernel == AttentionKernel::favor_hyperbolic || kernel == AttentionKernel::favor_trig;
      const double M = doubled ? 2 * m : m;
      c.feature_maps = L * 2 * (2 * d * m);      // W q and W k
      c.attention = L * 2 * (2 * M * (d + 1));  // K'^T [V 1] and Q' [S z]
      return c;
    }
    case AttentionKernel::linformer:
      c.attention = L * 4 * (2 * double(linformer_k) * d);  // E K, F V, q (EK)^T, P (FV)
      return c;
    case AttentionKernel::reformer: {
      const double rounds = double(lsh.rounds);
      c.attention = rounds * L * 2 * (2 * (2 * double(lsh.chunk)) * d);  // q k^T and P v over 2c keys
      c.hashing = rounds * L * 2 * d * double(lsh.buckets / 2);         // x R, R [d, b/2]
      return c;
    }
    default:  // a kernel added after this counter: say so rather than guess
      c.known = false;
      return c;
  }
}

namespace {

// The blocks of a PerformerStack on one sequence of `length` tokens.
FlopCount stack_flops(const PerformerConfig& config, std::size_t length) {
  const double D = double(config.width), F = double(config.ff_hidden), L = double(length);
  const MultiHeadAttentionConfig a = attention_config(config, 0);
  FlopCount layer = attention_flops(config.attention, config.causal, length, a.head_width(), a.effective_features(),
                                    a.linformer_k, a.lsh)
                        .scaled(double(config.heads));
  layer.projections = L * 4 * (2 * D * D);
  layer.feed_forward = L * 2 * (2 * D * F);
  return layer.scaled(double(config.depth));
}

FlopCount unknown() {
  FlopCount c;
  c.known = false;
  return c;
}

}  // namespace

FlopCount lm_flops_per_token(const PerformerConfig& config) {
  if (config.context == 0) return unknown();
  FlopCount c = stack_flops(config, config.context).scaled(1.0 / double(config.context));
  c.output_head = 2 * double(config.width) * double(config.vocab);
  return c.known ? c : unknown();
}

FlopCount classifier_flops_per_sequence(const PerformerConfig& config, std::size_t classes, Pooling pooling,
                                        std::size_t input_features) {
  PerformerConfig bidirectional = config;
  bidirectional.causal = false;  // as PerformerClassifier builds it
  const std::size_t length = config.context + (pooling == Pooling::class_token ? 1 : 0);
  FlopCount c = stack_flops(bidirectional, length);
  c.input_embedding = double(config.context) * 2 * double(input_features) * double(config.width);
  c.output_head = 2 * double(config.width) * double(classes);
  return c.known ? c : unknown();
}

}  // namespace pf
