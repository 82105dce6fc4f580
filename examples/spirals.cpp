// Two spirals: train a small MLP classifier with Adam, full batch, in float32.
//
// Prints loss and accuracy while training, the final accuracy, the time per step, and how many
// bytes the tensor pool had to get fresh from the system per step after warm-up (the pool reuses
// last step's buffers, so this should be ~0). Optionally saves the model as safetensors.
//
//   ./build/examples/spirals                       # defaults: 2x200 points, MLP 2-32-32-2, tanh
//   ./build/examples/spirals --steps 2000 --hidden 64 --activation gelu --save spirals.safetensors
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/engine.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/optim/schedule.hpp"
#include "layers/mlp.hpp"
#include "layers/module_io.hpp"

using namespace pf;

namespace {

// Two interleaved spirals, one per class: point i of n has radius r = 0.1 + 0.9 i / n and angle
// 3 pi r (+ pi for class 1), plus Gaussian noise. x [2n, 2], labels [2n].
void make_two_spirals(std::size_t n, double noise, Rng& rng, Tensor<float>& x, Indices& labels) {
  Array<float> points = empty_array<float>({2 * n, 2});
  labels = Indices(Shape{2 * n});
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t i = 0; i < n; ++i) {
      const double r = 0.1 + 0.9 * double(i) / double(n);
      const double angle = 3 * M_PI * r + double(c) * M_PI;
      const std::size_t row = c * n + i;
      points(row, 0) = static_cast<float>(r * std::cos(angle) + noise * rng.normal());
      points(row, 1) = static_cast<float>(r * std::sin(angle) + noise * rng.normal());
      labels(row) = static_cast<std::int64_t>(c);
    }
  x = Tensor<float>(std::move(points));
}

// Fraction of rows whose largest logit is the label.
double accuracy(const Tensor<float>& logits, const Indices& labels) {
  const std::size_t rows = logits.size(0), classes = logits.size(1);
  std::size_t correct = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = logits.data() + r * classes;
    std::size_t best = 0;
    for (std::size_t k = 1; k < classes; ++k)
      if (row[k] > row[best]) best = k;
    correct += static_cast<std::int64_t>(best) == labels(r);
  }
  return double(correct) / double(rows);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train an MLP on two spirals"};
  std::size_t points = 200, hidden = 32, steps = 600, warmup_steps = 20, log_every = 100;
  double lr = 0.02, noise = 0.02;
  std::uint64_t seed = 1;
  std::string activation = "tanh", save_path;
  app.add_option("--points", points, "points per spiral");
  app.add_option("--hidden", hidden, "width of the two hidden layers");
  app.add_option("--steps", steps, "full-batch Adam steps");
  app.add_option("--lr", lr, "peak learning rate (linear warmup, cosine decay to lr/10)");
  app.add_option("--warmup", warmup_steps, "warmup steps");
  app.add_option("--noise", noise, "standard deviation of the point noise");
  app.add_option("--activation", activation, "gelu, relu or tanh");
  app.add_option("--seed", seed, "random seed (data and initialisation)");
  app.add_option("--log-every", log_every, "print loss and accuracy every this many steps");
  app.add_option("--save", save_path, "save the trained model to this safetensors file");
  CLI11_PARSE(app, argc, argv);
  if (steps == 0 || warmup_steps > steps) {
    fmt::print(stderr, "spirals: need steps > 0 and warmup <= steps\n");
    return 2;
  }
  tune_malloc_for_reuse();

  Rng rng(seed);
  Tensor<float> x;
  Indices labels;
  make_two_spirals(points, noise, rng, x, labels);
  MLP<float> model({2, hidden, hidden, 2}, parse_activation(activation), rng);
  AdamOptions options;
  options.lr = lr;
  Adam<float> optimizer(model.named_parameters(), options);
  WarmupCosineLr schedule(lr, static_cast<std::int64_t>(warmup_steps), static_cast<std::int64_t>(steps), lr / 10);
  fmt::print("two spirals: {} points, MLP 2-{}-{}-2 ({}), {} parameters, Adam lr {} for {} steps\n", 2 * points,
             hidden, hidden, activation, model.parameter_count(), lr, steps);

  // Warm-up: after a few steps every buffer size a step needs is in the pool.
  const std::size_t measure_from = std::min<std::size_t>(10, steps - 1);
  MemoryStats at_warm{};
  auto t_warm = std::chrono::steady_clock::now();
  std::clock_t cpu_warm = std::clock();
  double final_accuracy = 0, final_loss = 0;
  for (std::size_t step = 0; step < steps; ++step) {
    if (step == measure_from) {
      at_warm = memory_stats();
      t_warm = std::chrono::steady_clock::now();
      cpu_warm = std::clock();
    }
    optimizer.set_lr(schedule.lr_at(optimizer.step_count()));
    Tensor<float> logits = model(x);
    Tensor<float> loss = cross_entropy(logits, labels);
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
    final_loss = loss.item();
    final_accuracy = accuracy(logits, labels);
    if ((step + 1) % log_every == 0 || step + 1 == steps)
      fmt::print("step {:5d}  loss {:.4f}  accuracy {:6.2f}%  lr {:.4g}\n", step + 1, final_loss,
                 100 * final_accuracy, optimizer.lr());
  }
  const auto t_end = std::chrono::steady_clock::now();
  const std::clock_t cpu_end = std::clock();
  const MemoryStats at_end = memory_stats();
  const std::size_t measured = steps - measure_from;

  {
    NoGradGuard no_grad;
    final_accuracy = accuracy(model(x), labels);
  }
  const double seconds = std::chrono::duration<double>(t_end - t_warm).count();
  // CPU time (all threads) is the steadier number on a shared machine.
  const double cpu_seconds = double(cpu_end - cpu_warm) / CLOCKS_PER_SEC;
  fmt::print("final train accuracy {:.2f}% (loss {:.4f})\n", 100 * final_accuracy, final_loss);
  fmt::print("time per step: {:.1f} us wall, {:.1f} us CPU\n", 1e6 * seconds / double(measured),
             1e6 * cpu_seconds / double(measured));
  fmt::print("fresh bytes from the system per step after warm-up: {:.1f} ({} bytes over {} steps; {} pool reuses)\n",
             double(at_end.fresh_bytes - at_warm.fresh_bytes) / double(measured),
             at_end.fresh_bytes - at_warm.fresh_bytes, measured,
             at_end.reused_allocations - at_warm.reused_allocations);
  if (!save_path.empty()) {
    save_module(model, save_path, {{"model", fmt::format("mlp 2-{}-{}-2 {}", hidden, hidden, activation)}});
    fmt::print("saved {}\n", save_path);
  }
  return final_accuracy >= 0.98 ? 0 : 1;
}
