// No silent non-finite state: NaN or Inf in a weight, a buffer or an optimizer moment is refused
// when read from a file and when about to be written, naming the file and the tensor; the opt-out
// lets it through.
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/io/finite.hpp"
#include "engine/io/npy.hpp"
#include "engine/ops/reduce.hpp"
#include "layers/mlp.hpp"
#include "layers/module_io.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// Sets allow_non_finite for one scope.
struct AllowNonFinite {
  bool before = non_finite_allowed();
  explicit AllowNonFinite(bool on) { allow_non_finite(on); }
  ~AllowNonFinite() { allow_non_finite(before); }
};

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A small MLP and its Adam optimizer after one step, so a checkpoint holds moments.
struct TrainedMlp {
  Rng rng{1};
  MLP<float> mlp{{3, 4, 2}, Activation::tanh, rng};
  Adam<float> opt{mlp.named_parameters(), AdamOptions{}};
  TrainedMlp() {
    Rng data(2);
    Tensor<float> loss = sum(mlp(randn<float>({4, 3}, data)));
    loss.backward();
    opt.step();
    opt.zero_grad();
  }
};

}  // namespace

TEST_CASE("non-finite: a NaN weight is refused on load, naming file and tensor; the opt-out loads it",
          "[io][non_finite]") {
  TempDir dir("nonfinite");
  const std::string path = dir.file("nan.safetensors");
  Rng rng(1);
  MLP<float> mlp({3, 4, 2}, Activation::tanh, rng);
  {
    AllowNonFinite allow(true);
    mlp.named_parameters()[0].second.value().data()[5] = std::numeric_limits<float>::quiet_NaN();
    save_module(mlp, path);
  }
  MLP<float> fresh({3, 4, 2}, Activation::tanh, rng);
  REQUIRE_THROWS_WITH(load_module(fresh, path), Catch::Contains(path) && Catch::Contains("layers.0.weight") &&
                                                    Catch::Contains("nan") && Catch::Contains("index 5"));
  AllowNonFinite allow(true);
  load_module(fresh, path);
  CHECK(std::isnan(fresh.named_parameters()[0].second.data()[5]));
}

TEST_CASE("non-finite: a checkpoint is not written from non-finite state, and the old file stays",
          "[io][non_finite]") {
  TempDir dir("nonfinite");
  const std::string path = dir.file("run.safetensors");
  TrainedMlp trained;
  MLP<float>& mlp = trained.mlp;
  Adam<float>& opt = trained.opt;
  save_checkpoint(path, mlp, opt);
  const std::string good = file_bytes(path);
  mlp.named_parameters()[1].second.value().data()[0] = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_WITH(save_checkpoint(path, mlp, opt), Catch::Contains(path) && Catch::Contains("layers.0.bias") &&
                                                           Catch::Contains("inf") && Catch::Contains("not written"));
  CHECK(file_bytes(path) == good);
  REQUIRE_THROWS_WITH(save_module(mlp, path), Catch::Contains("layers.0.bias"));
  CHECK(file_bytes(path) == good);
}

TEST_CASE("non-finite: an Inf optimizer moment in a checkpoint is refused on load", "[io][non_finite]") {
  TempDir dir("nonfinite");
  const std::string path = dir.file("run.safetensors");
  TrainedMlp trained, fresh;
  MLP<float>& mlp = trained.mlp;
  Adam<float>& opt = trained.opt;
  OptimizerState<float> state = opt.export_state();
  REQUIRE(!state.arrays.empty());
  state.arrays[0].second.data()[0] = -std::numeric_limits<float>::infinity();
  const std::string moment = state.arrays[0].first;
  opt.import_state(state, "test");
  {
    AllowNonFinite allow(true);
    save_checkpoint(path, mlp, opt);
  }
  REQUIRE_THROWS_WITH(load_checkpoint(path, fresh.mlp, fresh.opt), Catch::Contains(path) && Catch::Contains(moment) &&
                                                                   Catch::Contains("-inf"));
}

TEST_CASE("non-finite: load_npy refuses NaN and Inf, naming the file", "[io][non_finite][npy]") {
  TempDir dir("nonfinite");
  const std::string path = dir.file("x.npy");
  Array<double> a = filled_array<double>({2, 3}, 1.0);
  a.data()[4] = std::numeric_limits<double>::quiet_NaN();
  save_npy(path, a);  // writing an array is the user's call; reading it back is checked
  REQUIRE_THROWS_WITH(load_npy<double>(path), Catch::Contains(path) && Catch::Contains("index 4"));
  AllowNonFinite allow(true);
  CHECK(std::isnan(load_npy<double>(path).data()[4]));
}
