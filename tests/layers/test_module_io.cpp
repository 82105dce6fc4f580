#include <cstring>

#include "engine/ops/elementwise.hpp"
#include "engine/ops/reduce.hpp"
#include "layers/mlp.hpp"
#include "layers/module_io.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

template <class T>
bool same_state(const Module<T>& a, const Module<T>& b) {
  auto sa = a.named_state(), sb = b.named_state();
  if (sa.size() != sb.size()) return false;
  for (std::size_t i = 0; i < sa.size(); ++i)
    if (sa[i].first != sb[i].first || sa[i].second.shape() != sb[i].second.shape() ||
        !same_bytes(sa[i].second.data(), sb[i].second.data(), sa[i].second.numel() * sizeof(T)))
      return false;
  return true;
}

// One Adam step of a regression loss mean((mlp(x) - y)^2).
void train_step(MLP<float>& mlp, Optimizer<float>& opt, const Tensor<float>& x, const Tensor<float>& y) {
  Tensor<float> diff = mlp(x) - y;
  Tensor<float> loss = mean(diff * diff);
  loss.backward();
  opt.step();
  opt.zero_grad();
}

}  // namespace

TEST_CASE("save_module / load_module round-trip a model", "[layers][module_io]") {
  TempDir dir;
  Rng r1(1), r2(2);
  MLP<float> a({2, 8, 3}, Activation::gelu, r1), b({2, 8, 3}, Activation::gelu, r2);
  REQUIRE_FALSE(same_state(a, b));
  save_module(a, dir.file("mlp.safetensors"), {{"arch", "mlp 2-8-3"}});
  const Metadata meta = load_module(b, dir.file("mlp.safetensors"));
  CHECK(meta.at("arch") == "mlp 2-8-3");
  CHECK(same_state(a, b));
  // Stored as F32 under the dotted names.
  const SafetensorsFile file = load_safetensors(dir.file("mlp.safetensors"));
  CHECK(file.at("layers.1.weight").dtype == Dtype::f32);
  CHECK(file.at("layers.1.weight").shape == Shape{3, 8});
}

TEST_CASE("load_module converts F64 files into float modules (rounding)", "[layers][module_io]") {
  TempDir dir;
  Rng r64(3), r32(4);
  MLP<double> m64({3, 4, 2}, Activation::tanh, r64);
  MLP<float> m32({3, 4, 2}, Activation::tanh, r32);
  save_module(m64, dir.file("m64.safetensors"));
  load_module(m32, dir.file("m64.safetensors"));
  auto s64 = m64.named_state();
  auto s32 = m32.named_state();
  for (std::size_t i = 0; i < s64.size(); ++i)
    for (std::size_t j = 0; j < s64[i].second.numel(); ++j)
      CHECK(s32[i].second.data()[j] == static_cast<float>(s64[i].second.data()[j]));
}

TEST_CASE("load_module errors name the file and the tensor", "[layers][module_io][errors]") {
  TempDir dir;
  Rng rng(5);
  MLP<float> small({2, 4, 3}, Activation::relu, rng), wide({2, 5, 3}, Activation::relu, rng),
      deep({2, 4, 3, 3}, Activation::relu, rng);
  const std::string path = dir.file("small.safetensors");
  save_module(small, path);
  CHECK_THROWS_WITH(load_module(wide, path), Catch::Contains("layers.0.weight") && Catch::Contains("[4,2]") &&
                                                 Catch::Contains("[5,2]") && Catch::Contains(path));
  CHECK_THROWS_WITH(load_module(deep, path), Catch::Contains("missing") && Catch::Contains("layers.2.weight") &&
                                                 Catch::Contains(path));
}

TEST_CASE("A training checkpoint resumes bit-exactly", "[layers][module_io]") {
  TempDir dir;
  Rng data_rng(6);
  const Tensor<float> x = randn<float>({16, 2}, data_rng), y = randn<float>({16, 3}, data_rng);
  Rng r1(7), r2(8);
  MLP<float> straight({2, 8, 3}, Activation::tanh, r1), resumed({2, 8, 3}, Activation::tanh, r2);
  AdamOptions options;
  options.lr = 0.01;
  Adam<float> opt_straight(straight.named_parameters(), options), opt_resumed(resumed.named_parameters(), options);
  for (int t = 0; t < 5; ++t) train_step(straight, opt_straight, x, y);
  const std::string path = dir.file("run.safetensors");
  save_checkpoint(path, straight, opt_straight, {{"epoch", "1"}});

  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.find("adam.m.layers.0.weight") != nullptr);
  CHECK(file.metadata.at("adam.step") == "5");

  const Metadata meta = load_checkpoint(path, resumed, opt_resumed);
  CHECK(meta.at("epoch") == "1");
  CHECK(opt_resumed.step_count() == 5);
  CHECK(same_state(straight, resumed));
  for (int t = 0; t < 5; ++t) {
    train_step(straight, opt_straight, x, y);
    train_step(resumed, opt_resumed, x, y);
  }
  CHECK(same_state(straight, resumed));

  // A checkpoint for another optimizer kind is refused, and nothing changes.
  SgdOptions so;
  SGD<float> sgd(resumed.named_parameters(), so);
  CHECK_THROWS_WITH(load_checkpoint(path, resumed, sgd), Catch::Contains("sgd.step") && Catch::Contains(path));
  // Same parameters plus a buffer the file lacks: the optimizer part fits, the module part does
  // not, and the optimizer is put back as it was.
  struct WithBuffer : Module<float> {
    explicit WithBuffer(Rng& rng) {
      auto layers = register_module("layers", std::make_shared<ModuleList<float, Linear<float>>>());
      layers->push_back(std::make_shared<Linear<float>>(2, 8, rng));
      layers->push_back(std::make_shared<Linear<float>>(8, 3, rng));
      register_buffer("extra", Tensor<float>::zeros({2}));
    }
  };
  Rng r3(9);
  WithBuffer other(r3);
  Adam<float> opt_other(other.named_parameters(), options);
  CHECK_THROWS_WITH(load_checkpoint(path, other, opt_other), Catch::Contains("'extra'") && Catch::Contains(path));
  CHECK(opt_other.step_count() == 0);
  CHECK(opt_other.export_state().arrays[0].second.data()[0] == 0.0f);
  CHECK_THROWS_WITH(save_checkpoint(path, straight, opt_straight, {{"adam.lr", "1"}}), Catch::Contains("reserved"));
}
