#include "engine/ops/elementwise.hpp"
#include "engine/core/gradcheck.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

// A deliberately wrong backward: gradcheck must catch it and point at the input.
static Tensor<double> square_with_wrong_grad(const Tensor<double>& x) {
  Array<double> y = x.value() * x.value();
  auto nx = x.node();
  return make_result<double>(std::move(y), "bad_square", {x}, [nx](const Array<double>& g, const Array<double>&) {
    Array<double> d = 2.0 * g * nx->value;
    d.data()[1] *= 1.01;  // one element off by 1%
    nx->accumulate(d);
  });
}

TEST_CASE("gradcheck detects a wrong backward and names the worst element", "[engine][gradcheck]") {
  auto x = random_tensor({2, 2}, 3);
  auto ok = gradcheck([](const Vec& in) { return in[0] * in[0]; }, {x});
  CHECK(ok.passed);
  CHECK(ok.max_rel_error < 1e-8);
  auto bad = gradcheck([](const Vec& in) { return square_with_wrong_grad(in[0]); }, {x});
  CHECK_FALSE(bad.passed);
  REQUIRE(bad.inputs.size() == 1);
  CHECK(bad.inputs[0].max_rel_error == Approx(0.01 / 1.01).epsilon(1e-3));
  CHECK(bad.inputs[0].worst_coord == Shape{0, 1});
  CHECK_THAT(bad.report(), Catch::Contains("FAILED") && Catch::Contains("[0,1]"));
}

TEST_CASE("gradcheck rejects non-leaf inputs", "[engine][gradcheck][errors]") {
  auto x = random_tensor({2}, 4).set_requires_grad();
  auto y = x * 2.0;
  REQUIRE_THROWS_WITH(gradcheck([](const Vec& in) { return in[0]; }, {y}), Catch::Contains("not a leaf"));
}
