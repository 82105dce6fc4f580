#include <cmath>

#include "engine/ops/elementwise.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/ops/shape_ops.hpp"
#include "engine/ops/softmax.hpp"
#include "models/performer_classifier.hpp"
#include "models/performer_lm.hpp"
#include "models/tiny_config.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

PerformerConfig tiny_config(const std::string& attention, bool causal, const std::string& positions = "learned") {
  PerformerConfig c = sized_config(7, 8, 2, 2, 12, 6, 8);
  c.attention = parse_attention_kernel(attention);
  c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
  c.causal = causal;
  c.seed = 3;
  return c;
}

// gradcheck of a whole model over all its parameters. The parameters are first moved away from
// their initial values (small embeddings, unit norms, zero biases) so that every gradient is
// O(0.1..1): at the initial values some gradients are ~1e-6 and central differences of a loss
// of size ~2 measure them only to ~1e-11 absolute (rounding), which is not a test of the math.
template <class M, class F>
void require_model_gradcheck(M& model, F loss) {
  NamedTensors<double> params = model.named_parameters();
  std::vector<Tensor<double>> inputs;
  Rng rng(99);
  for (auto& [name, p] : params) {
    for (double& w : p.value()) w += 0.3 * rng.normal();
    inputs.push_back(p);
  }
  GradcheckOptions opt;
  const GradcheckResult r = gradcheck([&](const Vec&) { return loss(); }, inputs, opt);
  std::string worst;
  for (std::size_t i = 0; i < r.inputs.size(); ++i)
    if (r.inputs[i].max_rel_error > opt.tolerance) worst += params[i].first + " ";
  INFO(r.report());
  INFO("failing parameters: " << worst);
  REQUIRE(r.passed);
}

}  // namespace

TEST_CASE("PerformerConfig: JSON round trip and named errors", "[models][config]") {
  PerformerConfig c = tiny_config("favor-relu", true, "rotary");
  c.dropout = 0.25;
  c.redraw_interval = 100;
  const PerformerConfig back = PerformerConfig::from_json(c.to_json());
  CHECK(back.to_json() == c.to_json());
  CHECK(back.attention == AttentionKernel::favor_relu);
  CHECK(back.positions == PositionKind::rotary);
  CHECK(back.redraw_interval == 100);
  REQUIRE_THROWS_WITH(PerformerConfig::from_json(R"({"width": 10, "heads": 4})"), Catch::Contains("width 10") && Catch::Contains("heads 4"));
  REQUIRE_THROWS_WITH(PerformerConfig::from_json(R"({"attention": "magic"})"), Catch::Contains("magic"));
  REQUIRE_THROWS_WITH(PerformerConfig::from_json(R"({"widht": 8})"), Catch::Contains("widht"));
  REQUIRE_THROWS_WITH(PerformerConfig::from_json(R"({"width": "big"})"), Catch::Contains("width"));
  REQUIRE_THROWS_AS(PerformerConfig::from_json("{not json"), std::invalid_argument);
}

TEST_CASE("PerformerLM: gradcheck of every parameter, each attention kind", "[models][lm][gradcheck]") {
  for (const std::string attention : {"favor-positive", "exact", "favor-relu"})
    for (bool causal : {true, false}) {
      INFO("attention " << attention << " causal " << causal);
      PerformerLM<double> model(tiny_config(attention, causal, causal ? "learned" : "rotary"));
      const Indices ids = random_ids(2, 5, 7, 11), targets = random_ids(2, 5, 7, 12);
      require_model_gradcheck(model, [&] { return model.loss(ids, targets); });
    }
}

TEST_CASE("PerformerLM: causal logits at position i ignore later tokens", "[models][lm]") {
  PerformerLM<double> model(tiny_config("favor-positive", true));
  Indices a = random_ids(1, 6, 7, 21), b = a;
  b(0, 4) = (b(0, 4) + 1) % 7;
  b(0, 5) = (b(0, 5) + 3) % 7;
  const Tensor<double> la = model.forward(a), lb = model.forward(b);
  for (std::size_t i = 0; i < 4 * 7; ++i) CHECK(la.data()[i] == Approx(lb.data()[i]).margin(1e-12));
  double later_diff = 0;
  for (std::size_t i = 4 * 7; i < 6 * 7; ++i) later_diff += std::abs(la.data()[i] - lb.data()[i]);
  CHECK(later_diff > 1e-6);
}

TEST_CASE("PerformerLM: recurrent generation equals full-sequence logits", "[models][lm][recurrent]") {
  for (const std::string positions : {"learned", "rotary", "sinusoidal"}) {
    INFO("positions " << positions);
    PerformerConfig c = tiny_config("favor-positive", true, positions);
    PerformerLM<float> model(c);
    model.eval();
    const Indices ids = random_ids(2, 6, 7, 31);
    const Tensor<float> full = model.forward(ids);
    auto state = model.initial_state(2);
    for (std::size_t t = 0; t < 6; ++t) {
      Indices tokens = Indices::from_shape({2});
      tokens(0) = ids(0, t);
      tokens(1) = ids(1, t);
      const Tensor<float> logits = model.step(tokens, state);
      REQUIRE(logits.shape() == Shape{2, 7});
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t v = 0; v < 7; ++v)
          CHECK(logits.data()[b * 7 + v] == Approx(full.data()[(b * 6 + t) * 7 + v]).margin(1e-5));
    }
  }
  PerformerLM<float> exact(tiny_config("exact", true));
  CHECK_FALSE(exact.supports_recurrent_generation());
  REQUIRE_THROWS_WITH(exact.initial_state(1), Catch::Contains("exact"));
}

TEST_CASE("PerformerLM: a tiny model overfits a short string", "[models][lm][training]") {
  const std::string text = "the cat sat on the mat. the cat sat on the mat. ";
  const PerformerConfig c = sized_config(256, 32, 2, 2, 64, 32, 32);
  PerformerLM<float> model(c);
  AdamOptions options;
  options.lr = 3e-3;
  AdamW<float> opt(model.named_parameters(), options);
  const std::size_t T = 24, B = 4;
  Indices ids = Indices::from_shape({B, T}), targets = Indices::from_shape({B, T});
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t) {
      ids(b, t) = static_cast<unsigned char>(text[b * 5 + t]);
      targets(b, t) = static_cast<unsigned char>(text[b * 5 + t + 1]);
    }
  float first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor<float> loss = model.loss(ids, targets);
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(first > 4.0f);  // ~ln 256 at the start
  CHECK(last < 0.1f);   // memorised
}

TEST_CASE("PerformerClassifier: gradcheck for both poolings, tokens and features, with padding", "[models][classifier][gradcheck]") {
  for (Pooling pooling : {Pooling::mean, Pooling::class_token}) {
    INFO("pooling " << pooling_name(pooling));
    PerformerClassifier<double> tokens_model(tiny_config("favor-positive", false), 3, pooling);
    const Indices ids = random_ids(2, 5, 7, 41);
    Mask padding = Mask::from_shape({2, 5});
    std::fill(padding.begin(), padding.end(), 0);
    padding(1, 3) = padding(1, 4) = 1;
    Indices labels = Indices::from_shape({2});
    labels(0) = 2;
    labels(1) = 0;
    require_model_gradcheck(tokens_model, [&] { return cross_entropy(tokens_model.forward(ids, &padding), labels); });

    PerformerClassifier<double> feature_model(tiny_config("exact", false), 3, pooling, 4);
    const Tensor<double> features = random_tensor({2, 5, 4}, 42);
    require_model_gradcheck(feature_model, [&] { return cross_entropy(feature_model.forward(features), labels); });
  }
}

TEST_CASE("PerformerClassifier: padded positions do not change the prediction", "[models][classifier]") {
  PerformerClassifier<double> model(tiny_config("favor-positive", false), 3, Pooling::mean);
  Indices a = random_ids(1, 5, 7, 51), b = a;
  b(0, 4) = (b(0, 4) + 2) % 7;
  Mask padding = Mask::from_shape({1, 5});
  std::fill(padding.begin(), padding.end(), 0);
  padding(0, 4) = 1;
  const Tensor<double> la = model.forward(a, &padding), lb = model.forward(b, &padding);
  for (std::size_t i = 0; i < 3; ++i) CHECK(la.data()[i] == Approx(lb.data()[i]).margin(1e-12));
}

TEST_CASE("Performer models: shape errors name the problem", "[models][errors]") {
  PerformerLM<float> model(tiny_config("favor-positive", true));
  REQUIRE_THROWS_WITH(model.forward(random_ids(1, 9, 7, 1)), Catch::Contains("9") && Catch::Contains("context 6"));
  REQUIRE_THROWS_WITH(model.forward(Indices::from_shape({4})), Catch::Contains("[B, L]"));
  PerformerClassifier<float> classifier(tiny_config("exact", false), 3, Pooling::mean, 4);
  REQUIRE_THROWS_WITH(classifier.forward(Tensor<float>::zeros({2, 5, 3})), Catch::Contains("[B, L, 4]") && Catch::Contains("[2,5,3]"));
  REQUIRE_THROWS_AS(classifier.forward(random_ids(1, 4, 7, 2)), std::invalid_argument);
  REQUIRE_THROWS_WITH(parse_pooling("max"), Catch::Contains("max"));
}
