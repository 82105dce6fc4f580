// embed_generate: the smallest complete program that runs a trained model inside your own code:
// load a train_text checkpoint, continue a prompt, print. It uses the library alone
// (performer::performer), not the examples' shared code; README "Embed a trained model" shows it.
//
//   embed_generate runs/text.safetensors "And Jesus said" 200
#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "layers/module_io.hpp"
#include "models/performer_decoder.hpp"
using namespace pf;

// Draw a token from softmax(logits / temperature).
std::int64_t sample(const float* logits, std::size_t vocab, double temperature, Rng& rng) {
  const float top = *std::max_element(logits, logits + vocab);
  std::vector<double> weights(vocab);
  double total = 0;
  for (std::size_t v = 0; v < vocab; ++v) total += weights[v] = std::exp((logits[v] - top) / temperature);
  double u = rng.uniform() * total;
  for (std::size_t v = 0; v < vocab; ++v)
    if ((u -= weights[v]) < 0) return std::int64_t(v);
  return std::int64_t(vocab - 1);
}

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::cerr << "usage: embed_generate CHECKPOINT PROMPT [LENGTH]\n";
    return 2;
  }
  const std::string path = argv[1], prompt = argv[2];
  std::size_t length = argc > 3 ? std::stoul(argv[3]) : 200;

  // A train_text checkpoint holds the model's shape (JSON), its weights and the optimizer's state.
  const Metadata metadata = load_safetensors(path).metadata;
  PerformerLM<float> model(PerformerConfig::from_json(metadata.at("config")));
  AdamW<float> optimizer(model.named_parameters());
  load_checkpoint(path, model, optimizer);
  model.eval();
  // Learned positions end at the training context (sample_text slides a window past it).
  const PerformerConfig& config = model.config();
  if (config.positions == PositionKind::learned)
    length = std::min(length, config.context - std::min(config.context, prompt.size()));

  // The prompt in one pass, then one byte per step: O(1) work per byte, whatever came before.
  PerformerDecoder<float> decoder(model, /*rows*/ 1);
  Indices ids = Indices::from_shape({1, prompt.size()});
  for (std::size_t t = 0; t < prompt.size(); ++t) ids(0, t) = static_cast<unsigned char>(prompt[t]);
  const Tensor<float> first = decoder.prefill(0, ids);
  const float* logits = first.data();
  Rng rng(7);
  std::string text = prompt;
  for (std::size_t i = 0; i < length; ++i) {
    const std::int64_t token = sample(logits, decoder.vocab(), /*temperature*/ 0.8, rng);
    text += static_cast<char>(token);
    logits = decoder.step(&token, /*row*/ 0, /*rows*/ 1);
  }
  std::cout << text << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "embed_generate: error: " << e.what() << "\n";
  return 1;
}
