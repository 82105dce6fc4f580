// PerformerConfig's attention kernel and positions: enums with one name table each, so what
// parses is valid, unknown names are errors listing the valid ones, and the JSON of checkpoints
// keeps the names.
#include <fmt/format.h>

#include "models/performer_config.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("PerformerConfig: every attention name a config accepts parses and validates", "[models][config]") {
  CHECK(joined_names(config_attention_kernels()) ==
        "exact, favor-positive, favor-hyperbolic, favor-trig, favor-relu, linformer, reformer");
  for (const Named<AttentionKernel>& entry : config_attention_kernels()) {
    INFO(entry.name);
    const bool causal = entry.value != AttentionKernel::linformer;  // linformer is bidirectional only
    const PerformerConfig c =
        PerformerConfig::from_json(fmt::format(R"({{"attention": "{}", "causal": {}}})", entry.name, causal));
    CHECK(c.attention == entry.value);
    CHECK_NOTHROW(c.validate());
    CHECK(PerformerConfig::from_json(c.to_json()).attention == entry.value);
  }
}

TEST_CASE("PerformerConfig: every positions name parses, validates and round-trips", "[models][config]") {
  CHECK(joined_names(name_table(PositionKind{})) == "learned, sinusoidal, rotary, none");
  for (const Named<PositionKind>& entry : name_table(PositionKind{})) {
    INFO(entry.name);
    const PerformerConfig c = PerformerConfig::from_json(fmt::format(R"({{"positions": "{}"}})", entry.name));
    CHECK(c.positions == entry.value);
    CHECK(c.to_json().find(fmt::format(R"("positions":"{}")", entry.name)) != std::string::npos);
  }
}

TEST_CASE("PerformerConfig: unknown names and the old aliases are errors that list the valid names",
          "[models][config][errors]") {
  for (const char* name : {"favor", "performer", "favor-custom", "longformer"}) {
    INFO(name);
    REQUIRE_THROWS_WITH(PerformerConfig::from_json(fmt::format(R"({{"attention": "{}"}})", name)),
                        Catch::Contains("PerformerConfig") && Catch::Contains(fmt::format("attention '{}'", name)) &&
                            Catch::Contains("valid: exact, favor-positive, favor-hyperbolic, favor-trig, favor-relu, "
                                           "linformer, reformer)"));
  }
  REQUIRE_THROWS_WITH(PerformerConfig::from_json(R"({"positions": "absolute"})"),
                      Catch::Contains("positions 'absolute'") &&
                          Catch::Contains("valid: learned, sinusoidal, rotary, none"));
  // The layer's own parser has no aliases either.
  for (const char* name : {"favor", "performer"})
    REQUIRE_THROWS_WITH(parse_attention_kernel(name), Catch::Contains(fmt::format("'{}'", name)) &&
                                                          Catch::Contains("favor-custom"));
}

TEST_CASE("PerformerConfig: favor-custom set in code is rejected by validate, naming it", "[models][config][errors]") {
  PerformerConfig c;
  c.attention = AttentionKernel::favor_custom;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("favor-custom") && Catch::Contains("valid: exact"));
  c.attention = AttentionKernel::favor_trig;
  c.positions = PositionKind::rotary;
  c.width = 12;
  c.heads = 4;  // head width 3
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("rotary") && Catch::Contains("got 3"));
}

TEST_CASE("PerformerConfig: the JSON a checkpoint of 07f5aac holds still loads", "[models][config]") {
  const PerformerConfig c = PerformerConfig::from_json(
      R"({"attention":"favor-hyperbolic","causal":true,"context":8,"depth":1,"dropout":0.25,"features":4,)"
      R"("ff_hidden":16,"heads":2,"orthogonal":true,"positions":"rotary","redraw_interval":0,"seed":3,)"
      R"("tie_embeddings":true,"vocab":256,"width":8})");
  CHECK(c.attention == AttentionKernel::favor_hyperbolic);
  CHECK(c.positions == PositionKind::rotary);
  CHECK(c.width == 8);
  CHECK(c.dropout == 0.25);
  CHECK(c.to_json().find(R"("attention":"favor-hyperbolic")") != std::string::npos);
}

TEST_CASE("PerformerConfig: the linformer and LSH fields round-trip, and old JSON gets their defaults",
          "[models][config]") {
  PerformerConfig c;
  c.attention = AttentionKernel::reformer;
  c.linformer_k = 17;
  c.lsh_buckets = 6;
  c.lsh_rounds = 3;
  c.lsh_chunk = 11;
  const PerformerConfig back = PerformerConfig::from_json(c.to_json());
  CHECK(back.attention == AttentionKernel::reformer);
  CHECK(back.linformer_k == 17);
  CHECK(back.lsh_buckets == 6);
  CHECK(back.lsh_rounds == 3);
  CHECK(back.lsh_chunk == 11);
  // JSON written before these fields existed loads with the defaults
  const PerformerConfig old = PerformerConfig::from_json(R"({"attention":"favor-positive","width":8,"heads":2})");
  const PerformerConfig defaults;
  CHECK(old.linformer_k == defaults.linformer_k);
  CHECK(old.lsh_buckets == defaults.lsh_buckets);
  CHECK(old.lsh_rounds == defaults.lsh_rounds);
  CHECK(old.lsh_chunk == defaults.lsh_chunk);
}

TEST_CASE("PerformerConfig: causal linformer and bad LSH settings are refused, naming them",
          "[models][config][errors]") {
  PerformerConfig c;
  c.attention = AttentionKernel::linformer;
  c.causal = true;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("linformer") && Catch::Contains("causal"));
  c.causal = false;
  CHECK_NOTHROW(c.validate());
  c.linformer_k = 0;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("linformer_k"));
  c = PerformerConfig();
  c.attention = AttentionKernel::reformer;
  c.lsh_buckets = 5;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("buckets") && Catch::Contains("got 5"));
  c.lsh_buckets = 4;
  c.lsh_chunk = 0;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("chunk"));
  REQUIRE_THROWS_WITH(PerformerConfig::from_json(R"({"attention":"reformer","lsh_rounds":0})"),
                      Catch::Contains("rounds"));
}

TEST_CASE("Name tables: fmt prints enums by name", "[models][config]") {
  CHECK(fmt::format("{} {}", AttentionKernel::favor_trig, PositionKind::sinusoidal) == "favor-trig sinusoidal");
  CHECK(attention_kernel_name(AttentionKernel::exact) == "exact");
}
