#include "models/performer_config.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pf {

const NameTable<AttentionKernel>& config_attention_kernels() {
  static const NameTable<AttentionKernel> table = [] {
    NameTable<AttentionKernel> t;
    for (const Named<AttentionKernel>& entry : name_table(AttentionKernel{}))
      if (entry.value != AttentionKernel::favor_custom) t.push_back(entry);
    return t;
  }();
  return table;
}

void PerformerConfig::validate() const {
  auto fail = [](const std::string& why) { return std::invalid_argument("PerformerConfig: " + why); };
  if (vocab == 0 || width == 0 || depth == 0 || heads == 0 || ff_hidden == 0 || context == 0)
    throw fail(fmt::format("vocab, width, depth, heads, ff_hidden and context must be positive (got {}, {}, {}, {}, {}, {})",
                           vocab, width, depth, heads, ff_hidden, context));
  if (width % heads != 0) throw fail(fmt::format("width {} is not divisible by heads {}", width, heads));
  if (attention == AttentionKernel::favor_custom)
    throw fail(fmt::format("attention '{}' needs a feature function in code, which a config cannot hold (valid: {})",
                           attention, joined_names(config_attention_kernels())));
  if (is_favor_kernel(attention) && features == 0) throw fail("features must be positive for FAVOR attention");
  if (attention == AttentionKernel::linformer && causal)
    throw fail("attention 'linformer' is bidirectional only (its projected keys mix future positions): it cannot "
               "train a causal model");
  if (attention == AttentionKernel::linformer && linformer_k == 0) throw fail("linformer_k must be positive, got 0");
  if (attention == AttentionKernel::reformer) {
    try {
      check_lsh_options({lsh_buckets, lsh_rounds, lsh_chunk});
    } catch (const std::invalid_argument& e) {
      throw fail(e.what());
    }
  }
  if (positions == PositionKind::rotary && head_width() % 2 != 0)
    throw fail(fmt::format("rotary positions need an even head width, got {}", head_width()));
  if (!(dropout >= 0 && dropout < 1)) throw fail(fmt::format("dropout must be in [0, 1), got {}", dropout));
}

std::string PerformerConfig::to_json() const {
  nlohmann::json j = {{"vocab", vocab},         {"width", width},
                      {"depth", depth},         {"heads", heads},
                      {"ff_hidden", ff_hidden}, {"context", context},
                      {"attention", name_of(attention)}, {"features", features},
                      {"orthogonal", orthogonal}, {"redraw_interval", redraw_interval},
                      {"positions", name_of(positions)}, {"dropout", dropout},
                      {"tie_embeddings", tie_embeddings}, {"causal", causal},
                      {"seed", seed},
                      {"linformer_k", linformer_k}, {"lsh_buckets", lsh_buckets},
                      {"lsh_rounds", lsh_rounds}, {"lsh_chunk", lsh_chunk}};
  return j.dump();
}

namespace {

// nlohmann's get<std::size_t> converts any number: -3 would become a vocabulary of 2^64 - 3, 2.5
// would become 2, and a float beyond the type's range is undefined behaviour. Counts take only
// non-negative JSON integers.
std::uint64_t whole_number(const std::string& key, const nlohmann::json& v) {
  if (!v.is_number_unsigned())
    throw std::invalid_argument(fmt::format("field '{}' needs a non-negative integer, got {}", key, v.dump()));
  return v.get<std::uint64_t>();
}

}  // namespace

PerformerConfig PerformerConfig::from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(fmt::format("PerformerConfig: not valid JSON ({}): {}", e.what(), text));
  }
  if (!j.is_object()) throw std::invalid_argument("PerformerConfig: expected a JSON object, got " + text);
  PerformerConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    try {
      if (key == "vocab") c.vocab = whole_number(key, v);
      else if (key == "width") c.width = whole_number(key, v);
      else if (key == "depth") c.depth = whole_number(key, v);
      else if (key == "heads") c.heads = whole_number(key, v);
      else if (key == "ff_hidden") c.ff_hidden = whole_number(key, v);
      else if (key == "context") c.context = whole_number(key, v);
      else if (key == "attention") c.attention = parse_name(config_attention_kernels(), v.get<std::string>(), "attention");
      else if (key == "features") c.features = whole_number(key, v);
      else if (key == "orthogonal") c.orthogonal = v.get<bool>();
      else if (key == "redraw_interval") c.redraw_interval = whole_number(key, v);
      else if (key == "positions") c.positions = parse_name(name_table(PositionKind{}), v.get<std::string>(), "positions");
      else if (key == "dropout") c.dropout = v.get<double>();
      else if (key == "tie_embeddings") c.tie_embeddings = v.get<bool>();
      else if (key == "causal") c.causal = v.get<bool>();
      else if (key == "seed") c.seed = whole_number(key, v);
      else if (key == "linformer_k") c.linformer_k = whole_number(key, v);
      else if (key == "lsh_buckets") c.lsh_buckets = whole_number(key, v);
      else if (key == "lsh_rounds") c.lsh_rounds = whole_number(key, v);
      else if (key == "lsh_chunk") c.lsh_chunk = whole_number(key, v);
      else throw std::invalid_argument(fmt::format("unknown field '{}'", key));
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument(fmt::format("PerformerConfig: field '{}' has a bad value {} ({})", key, v.dump(), e.what()));
    } catch (const std::invalid_argument& e) {  // an unknown field or name, a value of the wrong type
      throw std::invalid_argument(fmt::format("PerformerConfig: {}", e.what()));
    }
  }
  c.validate();
  return c;
}

}  // namespace pf
