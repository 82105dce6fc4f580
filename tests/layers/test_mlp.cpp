#include "engine/ops/elementwise.hpp"
#include "layers/mlp.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("MLP: parameter names and forward as a composition of its layers", "[layers][mlp]") {
  Rng rng(1);
  MLP<double> mlp({3, 8, 6, 2}, Activation::tanh, rng);
  std::vector<std::string> names;
  for (auto& entry : mlp.named_parameters()) names.push_back(entry.first);
  CHECK(names == std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.1.weight",
                                          "layers.1.bias", "layers.2.weight", "layers.2.bias"});
  CHECK(mlp.parameter_count() == 3 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2);
  auto x = random_tensor({5, 3}, 2);
  auto ref = mlp.layers()[2](tanh(mlp.layers()[1](tanh(mlp.layers()[0](x)))));
  auto y = mlp(x);
  REQUIRE(y.shape() == Shape{5, 2});
  for (std::size_t i = 0; i < y.numel(); ++i) CHECK(y.data()[i] == ref.data()[i]);
}

TEST_CASE("MLP: gradcheck for every activation", "[layers][mlp][gradcheck]") {
  for (Activation act : {Activation::gelu, Activation::relu, Activation::tanh}) {
    INFO(activation_name(act));
    Rng rng(3);
    MLP<double> mlp({4, 6, 3}, act, rng);
    Vec inputs = {random_tensor({2, 3, 4}, 4)};
    for (auto& p : mlp.parameters()) inputs.push_back(p);
    require_gradcheck([&](const Vec& in) { return mlp(in[0]); }, inputs);
  }
}

TEST_CASE("MLP: activation names and errors", "[layers][mlp][errors]") {
  CHECK(parse_activation("relu") == Activation::relu);
  CHECK(activation_name(parse_activation("gelu")) == "gelu");
  CHECK_THROWS_WITH(parse_activation("swish"), Catch::Contains("swish"));
  Rng rng(5);
  CHECK_THROWS_AS(MLP<double>({4}, Activation::relu, rng), std::invalid_argument);
}

TEST_CASE("MLP: float32 agrees with float64", "[layers][mlp]") {
  Rng r64(6), r32(7);
  MLP<double> m64({5, 16, 3}, Activation::gelu, r64);
  MLP<float> m32({5, 16, 3}, Activation::gelu, r32);
  NamedArrays<float> state;
  for (auto& [name, t] : m64.named_state()) state.emplace_back(name, to_float(t).value());
  m32.load_state(state);
  auto x = random_tensor({4, 5}, 8);
  CHECK(max_mixed_error(m32(to_float(x)).value(), m64(x).value()) < 1e-5);
}
