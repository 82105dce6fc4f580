#include <cmath>

#include "composite_twin.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/reduce.hpp"
#include "engine/ops/softmax.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

// Composite twins from primitives (fine for moderate logits; no max shift).
static Tensor<double> softmax_twin(const Tensor<double>& x) {
  auto e = pf::exp(x);
  return e / sum(e, -1, true);
}
static Tensor<double> log_softmax_twin(const Tensor<double>& x) {
  return x - pf::log(sum(pf::exp(x), -1, true));
}
// -sum(log_softmax * onehot) / count, where onehot is a constant with a single 1 per kept row.
static Tensor<double> cross_entropy_twin(const Tensor<double>& logits, const Indices& targets,
                                         std::int64_t ignore_index) {
  const std::size_t C = logits.shape().back(), rows = targets.size();
  auto onehot = Tensor<double>::zeros(logits.shape());
  double count = 0;
  for (std::size_t r = 0; r < rows; ++r)
    if (targets.data()[r] != ignore_index) {
      onehot.data()[r * C + static_cast<std::size_t>(targets.data()[r])] = 1;
      ++count;
    }
  return -sum(log_softmax_twin(logits) * onehot) / count;
}

TEST_CASE("softmax rows are positive, sum to one, and match the formula", "[engine][softmax]") {
  auto x = random_tensor({2, 3, 5}, 1, 2.0);
  auto y = softmax(x);
  auto ly = log_softmax(x);
  REQUIRE(y.shape() == x.shape());
  for (std::size_t r = 0; r < 6; ++r) {
    double z = 0, total = 0;
    for (std::size_t c = 0; c < 5; ++c) z += std::exp(x.data()[r * 5 + c]);
    for (std::size_t c = 0; c < 5; ++c) {
      const double want = std::exp(x.data()[r * 5 + c]) / z;
      CHECK(y.data()[r * 5 + c] == Approx(want).epsilon(1e-12));
      CHECK(ly.data()[r * 5 + c] == Approx(std::log(want)).epsilon(1e-12));
      total += y.data()[r * 5 + c];
    }
    CHECK(total == Approx(1.0).epsilon(1e-14));
  }
}

TEST_CASE("softmax and log_softmax: gradcheck", "[engine][softmax][gradcheck]") {
  auto x = random_tensor({2, 3, 5}, 2);
  require_gradcheck([](const Vec& in) { return softmax(in[0]); }, {x});
  require_gradcheck([](const Vec& in) { return log_softmax(in[0]); }, {x});
  auto v = random_tensor({7}, 3);
  require_gradcheck([](const Vec& in) { return softmax(in[0]); }, {v});
  require_gradcheck([](const Vec& in) { return log_softmax(in[0]); }, {v});
}

TEST_CASE("softmax and log_softmax match their composite twins", "[engine][softmax][twin]") {
  auto x = random_tensor({3, 4, 6}, 4, 1.5);
  require_twin_match([](const Vec& in) { return softmax(in[0]); }, [](const Vec& in) { return softmax_twin(in[0]); },
                     {x});
  require_twin_match([](const Vec& in) { return log_softmax(in[0]); },
                     [](const Vec& in) { return log_softmax_twin(in[0]); }, {x});
}

TEST_CASE("softmax family is stable on logits around 1e3", "[engine][softmax][numerics]") {
  // Row 0 is [0, 1, 2] shifted by 1000; row 1 is spread over +-1000.
  auto x = Tensor<double>::from_vector({2, 3}, {1000, 1001, 1002, -1000, 0, 1000}, true);
  auto y = softmax(x);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  CHECK(y.data()[0] == Approx(1 / z).epsilon(1e-12));
  CHECK(y.data()[2] == Approx(std::exp(2.0) / z).epsilon(1e-12));
  CHECK(y.data()[3] == 0.0);  // exp(-2000) underflows to exactly 0, not NaN
  CHECK(y.data()[5] == 1.0);
  auto ly = log_softmax(x);
  CHECK(ly.data()[0] == Approx(-std::log(z)).epsilon(1e-12));
  CHECK(ly.data()[3] == Approx(-2000.0).epsilon(1e-12));
  CHECK(ly.data()[4] == Approx(-1000.0).epsilon(1e-12));
  auto targets = make_indices({2}, {2, 1});
  auto loss = cross_entropy(x, targets);
  // row 0: log z - 2;  row 1: logsumexp = 1000, x_t = 0 -> 1000
  CHECK(loss.item() == Approx((std::log(z) - 2 + 1000) / 2).epsilon(1e-12));
  loss.backward();
  for (double g : x.grad()) CHECK(std::isfinite(g));
  CHECK(x.grad()(1, 1) == Approx(-0.5).epsilon(1e-12));   // (0 - 1) / 2
  CHECK(x.grad()(1, 2) == Approx(0.5).epsilon(1e-12));    // (1 - 0) / 2
  // float32 too
  auto xf = Tensor<float>::from_vector({2, 3}, {1000, 1001, 1002, -1000, 0, 1000});
  auto lf = cross_entropy(xf, targets);
  CHECK(std::isfinite(lf.item()));
  CHECK(lf.item() == Approx(loss.item()).epsilon(1e-6));
  const auto sf = softmax(xf), lsf = log_softmax(xf);  // keep the tensors alive while iterating
  for (float v : sf.value()) CHECK(std::isfinite(v));
  for (float v : lsf.value()) CHECK(std::isfinite(v));
}

TEST_CASE("cross_entropy: gradcheck and composite twin", "[engine][softmax][cross_entropy][gradcheck]") {
  auto logits = random_tensor({2, 3, 5}, 5);
  auto targets = make_indices({2, 3}, {0, 4, 2, -100, 1, 3});
  require_gradcheck([&](const Vec& in) { return cross_entropy(in[0], targets); }, {logits});
  require_twin_match([&](const Vec& in) { return cross_entropy(in[0], targets); },
                     [&](const Vec& in) { return cross_entropy_twin(in[0], targets, -100); }, {logits});
  // 1-D logits with a scalar target, and a custom ignore_index that is a valid class
  auto single = random_tensor({6}, 6);
  auto t0 = make_indices({}, {3});
  require_gradcheck([&](const Vec& in) { return cross_entropy(in[0], t0); }, {single});
  auto pad = make_indices({2, 3}, {0, 4, 2, 0, 1, 0});
  require_twin_match([&](const Vec& in) { return cross_entropy(in[0], pad, 0); },
                     [&](const Vec& in) { return cross_entropy_twin(in[0], pad, 0); }, {logits});
}

TEST_CASE("cross_entropy excludes ignored positions from the sum and the count", "[engine][cross_entropy]") {
  auto logits = random_tensor({4, 3}, 7);
  auto targets = make_indices({4}, {1, -100, 2, -100});
  // the same loss on only the kept rows
  Array<double> kept = empty_array<double>({2, 3});
  std::copy(logits.data(), logits.data() + 3, kept.data());
  std::copy(logits.data() + 6, logits.data() + 9, kept.data() + 3);
  auto want = cross_entropy(Tensor<double>(kept), make_indices({2}, {1, 2}));
  auto x = Tensor<double>(logits.value(), true);
  auto loss = cross_entropy(x, targets);
  CHECK(loss.item() == Approx(want.item()).epsilon(1e-14));
  loss.backward();
  for (std::size_t c = 0; c < 3; ++c) {
    CHECK(x.grad()(1, c) == 0.0);
    CHECK(x.grad()(3, c) == 0.0);
  }
  // kept rows' gradients sum to zero (softmax minus one-hot) and scale with 1 / count = 1/2
  double row0 = 0;
  for (std::size_t c = 0; c < 3; ++c) row0 += x.grad()(0, c);
  CHECK(row0 == Approx(0.0).margin(1e-15));
  const double p01 = softmax(logits).value()(0, 1);
  CHECK(x.grad()(0, 1) == Approx((p01 - 1) / 2).epsilon(1e-12));
  // changing an ignored row's logits changes nothing
  auto moved = Tensor<double>(logits.value());
  moved.data()[4] += 50;
  CHECK(cross_entropy(moved, targets).item() == loss.item());
}

TEST_CASE("cross_entropy with every target ignored is 0 with zero gradients", "[engine][cross_entropy]") {
  auto x = Tensor<double>(random_tensor({2, 4}, 8).value(), true);
  auto loss = cross_entropy(x, make_indices({2}, {-1, -1}), -1);
  CHECK(loss.item() == 0.0);
  loss.backward();
  for (double g : x.grad()) CHECK(g == 0.0);
}

TEST_CASE("softmax family: float32 agrees with float64", "[engine][softmax]") {
  auto x = random_tensor({4, 6, 9}, 9, 3.0);
  auto xf = to_float(x);
  CHECK(max_mixed_error(softmax(xf).value(), softmax(x).value()) < 1e-6);
  CHECK(max_mixed_error(log_softmax(xf).value(), log_softmax(x).value()) < 1e-5);
  Indices t = empty_array<std::int64_t>({4, 6});
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<std::int64_t>((i * 7) % 9);
  CHECK(max_mixed_error(cross_entropy(xf, t).value(), cross_entropy(x, t).value()) < 1e-5);
}

TEST_CASE("softmax family: errors name the op and the values", "[engine][softmax][errors]") {
  auto x = Tensor<double>::zeros({2, 3, 5});
  REQUIRE_THROWS_WITH(softmax(Tensor<double>::scalar(1.0)), Catch::Contains("softmax") && Catch::Contains("[]"));
  REQUIRE_THROWS_WITH(log_softmax(Tensor<double>::scalar(1.0)), Catch::Contains("log_softmax"));
  REQUIRE_THROWS_WITH(cross_entropy(x, make_indices({3, 2}, {0, 0, 0, 0, 0, 0})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[3,2]") &&
                          Catch::Contains("[2,3,5]") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(cross_entropy(x, make_indices({2, 3}, {0, 1, 2, 3, 5, 0})),
                      Catch::Contains("cross_entropy") && Catch::Contains("target 5") &&
                          Catch::Contains("[1,1]") && Catch::Contains("5 classes"));
  REQUIRE_THROWS_WITH(cross_entropy(x, make_indices({2, 3}, {0, -3, 0, 0, 0, 0})),
                      Catch::Contains("target -3") && Catch::Contains("[0,1]"));
  REQUIRE_THROWS_WITH(cross_entropy(Tensor<double>::zeros({2, 0}), make_indices({2}, {-100, 0})),
                      Catch::Contains("target 0") && Catch::Contains("0 classes"));
}
