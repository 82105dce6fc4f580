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

namespace {
// Dropouts at two depths, as a model holds them inside its blocks.
struct TwoDropouts {
  ModuleList<float> outer;
  std::shared_ptr<Dropout<float>> top = std::make_shared<Dropout<float>>(0.5, 3);
  std::shared_ptr<Dropout<float>> nested = std::make_shared<Dropout<float>>(0.5, 4);
  TwoDropouts() {
    outer.push_back(top);
    auto inner = std::make_shared<ModuleList<float, Dropout<float>>>();
    inner->push_back(nested);
    outer.push_back(inner);
  }
  std::vector<Dropout<float>*> both() const { return {top.get(), nested.get()}; }
};
}  // namespace

TEST_CASE("jump_dropout_generators: each rank its own masks, and a resume from rank 0's state restores them",
          "[layers][dropout]") {
  TwoDropouts rank0, rank1, seeded;
  jump_dropout_generators(rank0.outer, 0);
  jump_dropout_generators(rank1.outer, 1);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(rank0.both()[i]->rng_state() == seeded.both()[i]->rng_state());  // zero jumps: the seed's stream
    Rng expected;
    expected.set_state(seeded.both()[i]->rng_state());
    expected.jump();
    CHECK(rank1.both()[i]->rng_state() == expected.state());
  }
  // Three training steps on each rank: the ranks' masks differ.
  const auto x = Tensor<float>::ones({256});
  for (int step = 0; step < 3; ++step)
    for (std::size_t i = 0; i < 2; ++i)
      CHECK_FALSE(same_values((*rank0.both()[i])(x).value(), (*rank1.both()[i])(x).value()));
  // A resume loads rank 0's saved state on every rank; rank 1 jumps it once and is where it was.
  TwoDropouts resumed;
  NamedArrays<float> saved;
  for (const auto& [name, tensor] : rank0.outer.named_state()) saved.emplace_back(name, tensor.value());
  resumed.outer.load_state(saved);
  jump_dropout_generators(resumed.outer, 1);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(resumed.both()[i]->rng_state() == rank1.both()[i]->rng_state());
    CHECK(same_values((*resumed.both()[i])(x).value(), (*rank1.both()[i])(x).value()));
  }
}
