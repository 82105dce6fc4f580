// The Performer model flags every training program shares (--attention, --features, --iid,
// --redraw, --width, --depth, --heads, --ff, --positions, --dropout, --linformer-k, --lsh-buckets,
// --lsh-rounds, --lsh-chunk, --seed), so they are named,
// documented and parsed the same way everywhere.
#pragma once

#include <CLI/CLI.hpp>

#include "models/performer_config.hpp"

namespace pf::examples {

// PerformerConfig's defaults with these sizes: a program's default model in one line.
PerformerConfig sized_config(std::size_t width, std::size_t depth, std::size_t heads, std::size_t ff_hidden,
                             std::size_t features);

// Binds the flags to `config`; `iid` receives --iid (apply it with apply_model_flags after parsing).
void add_model_flags(CLI::App& app, PerformerConfig& config, bool& iid);
// What add_model_flags could not write directly.
inline void apply_model_flags(PerformerConfig& config, bool iid) { config.orthogonal = !iid; }

}  // namespace pf::examples
