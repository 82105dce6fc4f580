// Run checkpoints as sample_text reads them: peek_run (the run metadata and the model's
// configuration JSON), a model built from that configuration when it is small (a large one is
// a valid file this harness cannot afford), then load_run (weights, AdamW state, legacy dropout
// generators). Documented errors: std::runtime_error and std::invalid_argument.
#include <stdexcept>

#include "engine/optim/optimizers.hpp"
#include "fuzz_input.hpp"
#include "models/performer_lm.hpp"
#include "training_run.hpp"

namespace {

bool small_enough(const pf::PerformerConfig& c) {
  return c.vocab <= 64 && c.width <= 32 && c.depth <= 2 && c.ff_hidden <= 64 && c.context <= 64 && c.features <= 32;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = pf::fuzz::write_input(data, size, false);
  try {
    const pf::examples::RunState run = pf::examples::peek_run(path);
    const pf::PerformerConfig config = pf::PerformerConfig::from_json(run.config_json);
    if (!small_enough(config)) return 0;
    pf::PerformerLM<float> model(config);
    pf::AdamW<float> optimizer(model.named_parameters());
    pf::examples::load_run(path, model, optimizer);
  } catch (const std::runtime_error& e) {
    pf::fuzz::refused(e);
  } catch (const std::invalid_argument& e) {
    pf::fuzz::refused(e);
  }
  return 0;
}
