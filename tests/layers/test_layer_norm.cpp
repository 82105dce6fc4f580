#include <cmath>

#include "layers/layer_norm.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("LayerNorm layer: formula per row, PyTorch names and init", "[layers][layer_norm]") {
  LayerNorm<double> ln(6);
  std::vector<std::string> names;
  for (auto& e : ln.named_parameters()) names.push_back(e.first);
  CHECK(names == std::vector<std::string>{"weight", "bias"});
  for (double v : ln.weight().value()) CHECK(v == 1.0);
  for (double v : ln.bias().value()) CHECK(v == 0.0);
  Rng rng(1);
  ln.weight().node()->value = randn_array<double>({6}, rng);
  ln.bias().node()->value = randn_array<double>({6}, rng);
  auto x = random_tensor({2, 3, 6}, 2, 3.0);
  auto y = ln(x);
  REQUIRE(y.shape() == x.shape());
  for (std::size_t r = 0; r < 6; ++r) {
    const double* row = x.data() + r * 6;
    double mean = 0, var = 0;
    for (std::size_t i = 0; i < 6; ++i) mean += row[i] / 6;
    for (std::size_t i = 0; i < 6; ++i) var += (row[i] - mean) * (row[i] - mean) / 6;
    for (std::size_t i = 0; i < 6; ++i) {
      const double ref = (row[i] - mean) / std::sqrt(var + 1e-5) * ln.weight().data()[i] + ln.bias().data()[i];
      CHECK(y.data()[r * 6 + i] == Approx(ref).epsilon(1e-12));
    }
  }
}

TEST_CASE("LayerNorm layer: gradcheck of input, weight and bias", "[layers][layer_norm][gradcheck]") {
  LayerNorm<double> ln(5);
  Rng rng(3);
  ln.weight().node()->value = randn_array<double>({5}, rng);
  ln.bias().node()->value = randn_array<double>({5}, rng);
  Vec inputs = {random_tensor({3, 2, 5}, 4)};
  for (auto& p : ln.parameters()) inputs.push_back(p);
  require_gradcheck([&](const Vec& in) { return ln(in[0]); }, inputs);
}

TEST_CASE("LayerNorm layer: float32 agrees with float64; errors", "[layers][layer_norm][errors]") {
  LayerNorm<double> l64(8);
  LayerNorm<float> l32(8);
  auto x = random_tensor({4, 8}, 5, 2.0);
  CHECK(max_mixed_error(l32(to_float(x)).value(), l64(x).value()) < 1e-5);
  CHECK_THROWS_AS(l64(Tensor<double>::zeros({4, 7})), std::invalid_argument);
  CHECK_THROWS_WITH(LayerNorm<float>(0), Catch::Contains("LayerNorm"));
}
