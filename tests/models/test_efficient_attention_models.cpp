// Linformer and Reformer-style LSH attention inside whole models: they train (every parameter gets
// a gradient), rebuild from their config JSON, and refuse what they cannot do with the kernel's name.
#include <cmath>

#include "models/performer_lm.hpp"
#include "models/tiny_config.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

Indices ids_of(std::size_t B, std::size_t L, std::size_t vocab) {
  Indices ids = Indices::from_shape({B, L});
  for (std::size_t i = 0; i < ids.size(); ++i) ids.data()[i] = std::int64_t((i * 7 + 3) % vocab);
  return ids;
}

}  // namespace

TEST_CASE("efficient attention models: linformer (bidirectional) and reformer (causal) train and rebuild",
          "[models][linformer][lsh]") {
  for (const char* name : {"linformer", "reformer"}) {
    INFO(name);
    PerformerConfig c = sized_config(11, 8, 2, 2, 12, 10, 4);
    c.attention = parse_attention_kernel(name);
    c.causal = c.attention == AttentionKernel::reformer;
    c.linformer_k = 4;
    c.lsh_buckets = 2;
    c.lsh_chunk = 3;
    PerformerLM<float> model(c);
    const Indices ids = ids_of(2, 9, 11);
    Tensor<float> loss = model.loss(ids, ids);
    REQUIRE(std::isfinite(loss.item()));
    loss.backward();
    for (const auto& [param, p] : model.named_parameters()) {
      INFO(param);
      double norm = 0;
      for (float g : p.grad()) norm += double(g) * g;
      CHECK(norm > 0);
    }
    // The same config from its JSON builds the same model (same names, same outputs).
    PerformerLM<float> again(PerformerConfig::from_json(c.to_json()));
    CHECK(again.named_state().size() == model.named_state().size());
    CHECK(again.loss(ids, ids).item() == model.loss(ids, ids).item());
    CHECK_FALSE(model.supports_recurrent_generation());
    PerformerLM<float>::State state;
    REQUIRE_THROWS_WITH(model.step(ids_of(1, 1, 11), state), Catch::Contains(name));
    REQUIRE_THROWS_WITH(model.initial_state(1), Catch::Contains(name));
    // a batch longer than the context (linformer's L_max) is refused, naming both lengths
    REQUIRE_THROWS_WITH(model.forward(ids_of(1, 12, 11)), Catch::Contains("12") && Catch::Contains("context 10"));
  }
}
