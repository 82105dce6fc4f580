#include "model_flags.hpp"
#include "flag_checks.hpp"

#include <stdexcept>

namespace pf::examples {
namespace {

// A flag that takes one name of `table`: the help lists the names, an unknown one is a flag error
// that lists them too.
template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E& target, const NameTable<E>& table,
                        const std::string& what) {
  auto parse = [&target, &table, flag, what](const std::string& name) {
    try {
      target = parse_name(table, name, what);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError(flag + ": " + e.what());
    }
  };
  return app.add_option_function<std::string>(flag, parse, joined_names(table, " | "))->default_str(name_of(target));
}

}  // namespace

void add_model_flags(CLI::App& app, PerformerConfig& config, bool& iid) {
  add_choice(app, "--attention", config.attention, config_attention_kernels(), "attention");
  app.add_option("--features", config.features, "random features m per head (FAVOR)")->check(non_negative())->capture_default_str();
  app.add_flag("--iid", iid, "iid instead of orthogonal random features");
  app.add_option("--redraw", config.redraw_interval, "redraw random features every N steps (0: never)")->check(non_negative())->capture_default_str();
  app.add_option("--width", config.width, "model width D")->check(non_negative())->capture_default_str();
  app.add_option("--depth", config.depth, "number of blocks")->check(non_negative())->capture_default_str();
  app.add_option("--heads", config.heads, "attention heads")->check(non_negative())->capture_default_str();
  app.add_option("--ff", config.ff_hidden, "feed-forward hidden width")->check(non_negative())->capture_default_str();
  add_choice(app, "--positions", config.positions, name_table(PositionKind{}), "positions");
  app.add_option("--dropout", config.dropout, "dropout probability")->capture_default_str();
  app.add_option("--linformer-k", config.linformer_k, "linformer: rows k keys and values are projected to")
      ->capture_default_str();
  app.add_option("--lsh-buckets", config.lsh_buckets, "reformer: hash buckets (1, or even)")->capture_default_str();
  app.add_option("--lsh-rounds", config.lsh_rounds, "reformer: hash rounds")->capture_default_str();
  app.add_option("--lsh-chunk", config.lsh_chunk, "reformer: queries per chunk (each sees its chunk and the previous one)")
      ->capture_default_str();
  app.add_option("--seed", config.seed, "seed for initialisation, features and data order")->capture_default_str();
}

PerformerConfig sized_config(std::size_t width, std::size_t depth, std::size_t heads, std::size_t ff_hidden,
                             std::size_t features) {
  PerformerConfig c;
  c.width = width;
  c.depth = depth;
  c.heads = heads;
  c.ff_hidden = ff_hidden;
  c.features = features;
  return c;
}

}  // namespace pf::examples
