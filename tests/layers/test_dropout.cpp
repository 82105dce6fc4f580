#include "layers/dropout.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

static bool same_values(const Array<float>& a, const Array<float>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

TEST_CASE("Dropout layer: zeroes about p of the elements in training, identity in eval", "[layers][dropout]") {
  Dropout<double> drop(0.25, 7);
  CHECK(drop.named_parameters().empty());
  auto x = Tensor<double>::ones({100, 100});
  auto y = drop(x);
  std::size_t zeros = 0;
  for (double v : y.value()) {
    if (v == 0) ++zeros;
    else CHECK(v == Approx(1 / 0.75));
  }
  CHECK(zeros > 2300);
  CHECK(zeros < 2700);
  drop.eval();
  auto z = drop(x);
  for (double v : z.value()) CHECK(v == 1.0);
}

TEST_CASE("Dropout layer: the generator state replays the same mask", "[layers][dropout]") {
  Dropout<float> a(0.5, 11), b(0.5, 99);
  auto x = Tensor<float>::ones({64});
  const Rng::State saved = a.rng_state();
  auto first = a(x);
  auto second = a(x);
  CHECK_FALSE(same_values(first.value(), second.value()));  // the state advances
  b.set_rng_state(saved);
  CHECK(same_values(b(x).value(), first.value()));
  CHECK(same_values(b(x).value(), second.value()));
}

TEST_CASE("Dropout layer: the generator state is a buffer, so the state dict restores the masks", "[layers][dropout]") {
  Dropout<float> a(0.5, 11), b(0.5, 99);
  REQUIRE(a.named_buffers().size() == 1);
  CHECK(a.named_buffers()[0].first == Dropout<float>::kStateBuffer);
  auto x = Tensor<float>::ones({64});
  a(x);  // move past the seed's state
  NamedArrays<float> saved;
  for (const auto& [name, tensor] : a.named_state()) saved.emplace_back(name, tensor.value());
  const Array<float> next_1 = a(x).value(), next_2 = a(x).value();
  CHECK_FALSE(same_values(b(x).value(), next_1));  // another seed, another mask
  b.load_state(saved);
  CHECK(same_values(b(x).value(), next_1));
  CHECK(same_values(b(x).value(), next_2));
}

TEST_CASE("Dropout layer: gradcheck with a fixed mask", "[layers][dropout][gradcheck]") {
  Dropout<double> drop(0.3, 5);
  const Rng::State start = drop.rng_state();
  // Restore the state on every call so the finite differences see the same mask.
  require_gradcheck([&](const Vec& in) {
    drop.set_rng_state(start);
    return drop(in[0]);
  }, {random_tensor({4, 6}, 6)});
}

TEST_CASE("Dropout layer: bad p", "[layers][dropout][errors]") {
  CHECK_THROWS_WITH(Dropout<float>(1.0), Catch::Contains("Dropout") && Catch::Contains("[0, 1)"));
  CHECK_THROWS_AS(Dropout<float>(-0.1), std::invalid_argument);
}
