// The shared model flags: --attention and --positions take exactly the names of the name tables.
#include <catch2/catch.hpp>

#include "model_flags.hpp"

using namespace pf;
using namespace pf::examples;

TEST_CASE("model flags: --attention and --positions parse names into the config", "[examples][flags]") {
  PerformerConfig config;
  bool iid = false;
  CLI::App app;
  add_model_flags(app, config, iid);
  app.parse("--attention favor-trig --positions none --iid", false);
  apply_model_flags(config, iid);
  CHECK(config.attention == AttentionKernel::favor_trig);
  CHECK(config.positions == PositionKind::none);
  CHECK_FALSE(config.orthogonal);
  const std::string help = app.help();
  CHECK(help.find("exact | favor-positive | favor-hyperbolic | favor-trig | favor-relu") != std::string::npos);
  CHECK(help.find("learned | sinusoidal | rotary | none") != std::string::npos);
}

TEST_CASE("model flags: the linformer and LSH flags reach the config", "[examples][flags]") {
  PerformerConfig config;
  bool iid = false;
  CLI::App app;
  add_model_flags(app, config, iid);
  app.parse("--attention reformer --linformer-k 12 --lsh-buckets 4 --lsh-rounds 3 --lsh-chunk 16", false);
  CHECK(config.attention == AttentionKernel::reformer);
  CHECK(config.linformer_k == 12);
  CHECK(config.lsh_buckets == 4);
  CHECK(config.lsh_rounds == 3);
  CHECK(config.lsh_chunk == 16);
}

TEST_CASE("model flags: the help shows the defaults by name", "[examples][flags]") {
  PerformerConfig config;
  bool iid = false;
  CLI::App app;
  add_model_flags(app, config, iid);
  const std::string help = app.help();
  CHECK(help.find("=favor-positive") != std::string::npos);
  CHECK(help.find("=learned") != std::string::npos);
}

TEST_CASE("model flags: an unknown name is a flag error listing the valid names", "[examples][flags][errors]") {
  for (const char* name : {"favor", "performer", "favor-custom"}) {
    INFO(name);
    PerformerConfig config;
    bool iid = false;
    CLI::App app;
    add_model_flags(app, config, iid);
    REQUIRE_THROWS_WITH(app.parse(std::string("--attention ") + name, false),
                        Catch::Contains("--attention") && Catch::Contains(std::string("'") + name + "'") &&
                            Catch::Contains("valid: exact, favor-positive, favor-hyperbolic, favor-trig, favor-relu, linformer, reformer)"));
  }
  PerformerConfig config;
  bool iid = false;
  CLI::App app;
  add_model_flags(app, config, iid);
  REQUIRE_THROWS_AS(app.parse("--positions absolute", false), CLI::ValidationError);
}
