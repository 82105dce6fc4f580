// The program behind docs/TUTORIAL.md: write an op with its own backward and a layer (Module)
// that uses it, gradient-check the layer in double, train a small model with it in float, save
// the weights (safetensors + .npy) and load them back.
//
//   ./build/examples/tutorial_layer                        # writes runs/tutorial/
//   ./build/examples/tutorial_layer --out /tmp/tutorial --steps 600
//   /usr/bin/python3 examples/tutorial_read_weights.py runs/tutorial   # the same model in numpy
//
// Exit code 0 only when the gradient check passes, training reaches its loss target and the
// saved files load back into the same outputs; ctest runs it (tests/CMakeLists.txt).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/engine.hpp"
#include "layers/linear.hpp"
#include "layers/module_io.hpp"

using namespace pf;

// ---- step 1: an op with a hand-written backward ------------------------------------------------
// y = x / (1 + |x|)  (softsign);  dx = g / (1 + |x|)^2
template <class T>
Tensor<T> softsign(const Tensor<T>& x) {
  Array<T> y = empty_array<T>(x.shape());
  for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] = x.data()[i] / (T(1) + std::abs(x.data()[i]));
  if (!needs_grad<T>({&x})) return Tensor<T>(std::move(y));  // nothing to record (no-grad, constants)
  auto nx = x.node();  // the closure keeps x's node: its value is what backward needs
  return make_result<T>(std::move(y), "softsign", {x}, [nx](const Array<T>& g, const Array<T>& /*y*/) {
    T* dx = nx->grad_buffer().data();  // accumulate (+=): x may feed other ops too
    for (std::size_t i = 0; i < g.size(); ++i) {
      const T a = T(1) + std::abs(nx->value.data()[i]);
      dx[i] += g.data()[i] / (a * a);
    }
  });
}

// ---- step 2: a layer ---------------------------------------------------------------------------
// x [..., D] -> y [..., D]:  y = x + gain * softsign(x W^T + b)
// Owns gain [D] (initialised to 0.5) and a Linear child "proj" (weight [D, D], bias [D]), so its
// parameters are named gain, proj.weight, proj.bias.
template <class T>
class SoftsignResidual : public Module<T> {
 public:
  SoftsignResidual(std::size_t width, Rng& rng) {
    proj_ = this->register_module("proj", std::make_shared<Linear<T>>(width, width, rng));
    gain_ = this->register_parameter("gain", Tensor<T>::full({width}, T(0.5)));
  }
  Tensor<T> operator()(const Tensor<T>& x) const { return x + gain_ * softsign((*proj_)(x)); }

 private:
  std::shared_ptr<Linear<T>> proj_;
  Tensor<T> gain_;
};

// A model around the layer: x [N, 2] -> tanh(Linear "input") -> SoftsignResidual "block" ->
// Linear "output" -> [N, 1].
template <class T>
class Regressor : public Module<T> {
 public:
  Regressor(std::size_t width, Rng& rng) {
    input_ = this->register_module("input", std::make_shared<Linear<T>>(2, width, rng));
    block_ = this->register_module("block", std::make_shared<SoftsignResidual<T>>(width, rng));
    output_ = this->register_module("output", std::make_shared<Linear<T>>(width, 1, rng));
  }
  Tensor<T> operator()(const Tensor<T>& x) const { return (*output_)((*block_)(pf::tanh((*input_)(x)))); }

 private:
  std::shared_ptr<Linear<T>> input_, output_;
  std::shared_ptr<SoftsignResidual<T>> block_;
};

namespace {

// ---- step 3: gradient check, in double -------------------------------------------------------
// The inputs are x and the layer's own parameters: gradcheck perturbs them in place, and the
// layer reads the same tensors through its handles.
bool check_layer_gradients() {
  Rng rng(3);
  SoftsignResidual<double> layer(4, rng);
  std::vector<Tensor<double>> inputs{randn<double>({3, 4}, rng)};
  std::string names = "x";
  for (const auto& [name, p] : layer.named_parameters()) {
    inputs.push_back(p);
    names += ", " + name;
  }
  const GradcheckResult r =
      gradcheck([&](const std::vector<Tensor<double>>& in) { return layer(in[0]); }, inputs);
  fmt::print("gradcheck of SoftsignResidual<double>, inputs {}:\n{}", names, r.report());
  return r.passed;
}

// Targets of the regression: y = sin(2 x0) cos(x1) for x uniform in [-2, 2]^2.
Tensor<float> target_of(const Tensor<float>& x) {
  const std::size_t n = x.size(0);
  Array<float> y = empty_array<float>({n, 1});
  for (std::size_t i = 0; i < n; ++i) y(i, 0) = std::sin(2 * x.value()(i, 0)) * std::cos(x.value()(i, 1));
  return Tensor<float>(std::move(y));
}

// max |a - b| over all elements (same shapes).
float max_abs_diff(const Array<float>& a, const Array<float>& b) {
  float worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tutorial: write a layer, gradcheck it, train it, save it (docs/TUTORIAL.md)"};
  std::string out_dir = "runs/tutorial";
  std::size_t steps = 400, width = 16, points = 256;
  double lr = 0.01, target_loss = 0.01;
  app.add_option("--out", out_dir, "directory for tutorial.safetensors, block.proj.weight.npy, x.npy, pred.npy");
  app.add_option("--steps", steps, "Adam steps (full batch)");
  app.add_option("--width", width, "width of the hidden layer");
  app.add_option("--points", points, "training points");
  app.add_option("--lr", lr, "Adam learning rate");
  app.add_option("--target-loss", target_loss, "fail (exit 1) unless the final training loss is below this");
  CLI11_PARSE(app, argc, argv);

  if (!check_layer_gradients()) {
    fmt::print(stderr, "tutorial_layer: the gradient check failed\n");
    return 1;
  }

  // ---- step 4: train in float ----
  Rng rng(1);
  Regressor<float> model(width, rng);
  const Tensor<float> x = rand_uniform<float>({points, 2}, rng, -2.f, 2.f);
  const Tensor<float> y = target_of(x);
  AdamOptions options;
  options.lr = lr;
  Adam<float> optimizer(model.named_parameters(), options);
  fmt::print("training Regressor<float> ({} parameters) on {} points, Adam lr {}, {} steps\n",
             model.parameter_count(), points, lr, steps);
  float loss_value = 0;
  for (std::size_t step = 1; step <= steps; ++step) {
    const Tensor<float> diff = model(x) - y;
    Tensor<float> loss = mean(diff * diff);  // mean squared error
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
    loss_value = loss.item();
    if (step == 1 || step % 100 == 0 || step == steps) fmt::print("step {:4d}  mse {:.5f}\n", step, loss_value);
  }

  // ---- step 5: save ----
  std::filesystem::create_directories(out_dir);
  const std::string weights = out_dir + "/tutorial.safetensors";
  save_module(model, weights, {{"model", fmt::format("tutorial regressor, width {}", width)}});
  const NamedTensors<float> params = model.named_parameters();
  const Tensor<float>* proj_weight = nullptr;
  for (const auto& [name, p] : params)
    if (name == "block.proj.weight") proj_weight = &p;
  save_npy(out_dir + "/block.proj.weight.npy", proj_weight->value());
  Rng test_rng(2);
  const Tensor<float> x_test = rand_uniform<float>({8, 2}, test_rng, -2.f, 2.f);
  Array<float> pred;
  {
    NoGradGuard no_grad;  // inference: nothing is recorded
    pred = model(x_test).value();
  }
  save_npy(out_dir + "/x.npy", x_test.value());
  save_npy(out_dir + "/pred.npy", pred);
  for (const auto& [name, p] : params) fmt::print("  {:18s} {}\n", name, shape_str(p.shape()));
  fmt::print("saved {} (the parameters above), {}/block.proj.weight.npy, {}/x.npy and {}/pred.npy\n", weights,
             out_dir, out_dir, out_dir);

  // ---- step 6: load back into a fresh model (other random init) and compare ----
  Rng other(99);
  Regressor<float> loaded(width, other);
  load_module(loaded, weights);  // checks every name and shape
  float reload_error = 0;
  {
    NoGradGuard no_grad;
    reload_error = max_abs_diff(loaded(x_test).value(), pred);
  }
  const float npy_error = max_abs_diff(load_npy<float>(out_dir + "/block.proj.weight.npy"), proj_weight->value());
  fmt::print("reloaded: max |difference| of outputs {}, of block.proj.weight from .npy {}\n", reload_error,
             npy_error);
  if (reload_error != 0 || npy_error != 0) {
    fmt::print(stderr, "tutorial_layer: the saved files do not load back to the same model\n");
    return 1;
  }
  if (!(loss_value < target_loss)) {
    fmt::print(stderr, "tutorial_layer: final mse {} is not below --target-loss {}\n", loss_value, target_loss);
    return 1;
  }
  return 0;
}
