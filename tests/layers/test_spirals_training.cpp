// End to end: a small MLP trained with Adam + cross-entropy learns two interleaved spirals.
#include <chrono>
#include <cmath>

#include "engine/optim/optimizers.hpp"
#include "engine/optim/schedule.hpp"
#include "engine/ops/softmax.hpp"
#include "layers/mlp.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

struct Spirals {
  Tensor<float> x;  // [2n, 2]
  Indices labels;   // [2n]
};

// Class c, point i of n: radius r = 0.1 + 0.9 i / n, angle 3 pi r + c pi, plus N(0, noise^2).
Spirals two_spirals(std::size_t n, double noise, Rng& rng) {
  Array<float> points = empty_array<float>({2 * n, 2});
  Indices labels(Shape{2 * n});
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t i = 0; i < n; ++i) {
      const double r = 0.1 + 0.9 * double(i) / double(n), angle = 3 * M_PI * r + double(c) * M_PI;
      points(c * n + i, 0) = static_cast<float>(r * std::cos(angle) + noise * rng.normal());
      points(c * n + i, 1) = static_cast<float>(r * std::sin(angle) + noise * rng.normal());
      labels(c * n + i) = static_cast<std::int64_t>(c);
    }
  return {Tensor<float>(std::move(points)), std::move(labels)};
}

double accuracy(const Tensor<float>& logits, const Indices& labels) {
  std::size_t correct = 0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    const std::int64_t predicted = logits.data()[2 * r + 1] > logits.data()[2 * r] ? 1 : 0;
    correct += predicted == labels(r);
  }
  return double(correct) / double(labels.size());
}

}  // namespace

TEST_CASE("A tiny MLP trained with Adam learns two spirals (>= 98% train accuracy)", "[layers][mlp][training]") {
  Rng rng(2024);
  const Spirals data = two_spirals(200, 0.02, rng);
  MLP<float> model({2, 32, 32, 2}, Activation::tanh, rng);
  AdamOptions options;
  options.lr = 0.02;
  Adam<float> optimizer(model.named_parameters(), options);
  const std::int64_t steps = 300;
  WarmupCosineLr schedule(0.02, 10, steps, 0.002);

  const auto start = std::chrono::steady_clock::now();
  double first_loss = 0, last_loss = 0, first_accuracy = 0;
  for (std::int64_t step = 0; step < steps; ++step) {
    optimizer.set_lr(schedule.lr_at(optimizer.step_count()));
    Tensor<float> logits = model(data.x);
    Tensor<float> loss = cross_entropy(logits, data.labels);
    if (step == 0) {
      first_loss = loss.item();
      first_accuracy = accuracy(logits, data.labels);
    }
    last_loss = loss.item();
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  NoGradGuard no_grad;
  const double final_accuracy = accuracy(model(data.x), data.labels);
  INFO("loss " << first_loss << " -> " << last_loss << ", accuracy " << first_accuracy << " -> " << final_accuracy
               << " in " << seconds << " s");
  CHECK(first_accuracy < 0.8);  // the task is not solved by the initial network
  CHECK(first_loss > 0.5);
  CHECK(last_loss < 0.1);
  CHECK(final_accuracy >= 0.98);
}
