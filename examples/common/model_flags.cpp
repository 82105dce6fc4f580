#include "model_flags.hpp"

namespace pf::examples {

void add_model_flags(CLI::App& app, PerformerConfig& config, bool& iid) {
  app.add_option("--attention", config.attention, "exact | favor-positive | favor-hyperbolic | favor-trig | favor-relu")
      ->capture_default_str();
  app.add_option("--features", config.features, "random features m per head (FAVOR)")->capture_default_str();
  app.add_flag("--iid", iid, "iid instead of orthogonal random features");
  app.add_option("--redraw", config.redraw_interval, "redraw random features every N steps (0: never)")->capture_default_str();
  app.add_option("--width", config.width, "model width D")->capture_default_str();
  app.add_option("--depth", config.depth, "number of blocks")->capture_default_str();
  app.add_option("--heads", config.heads, "attention heads")->capture_default_str();
  app.add_option("--ff", config.ff_hidden, "feed-forward hidden width")->capture_default_str();
  app.add_option("--positions", config.positions, "learned | sinusoidal | rotary | none")->capture_default_str();
  app.add_option("--dropout", config.dropout, "dropout probability")->capture_default_str();
  app.add_option("--seed", config.seed, "seed for initialisation, features and data order")->capture_default_str();
}

}  // namespace pf::examples
