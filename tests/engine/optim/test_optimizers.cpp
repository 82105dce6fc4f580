#include <cmath>

#include "engine/optim/optimizers.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// Two parameters with fixed starting values.
NamedTensors<double> make_params() {
  return {{"a", Tensor<double>::from_vector({2, 2}, {0.5, -1.0, 2.0, 0.0}, true)},
          {"b", Tensor<double>::from_vector({3}, {1.0, -0.25, 3.0}, true)}};
}

// A deterministic gradient for parameter p, element i, at step t (as if from backward()).
double grad_value(std::size_t p, std::size_t i, int t) { return std::sin(1.0 + 0.7 * p + 1.3 * i + 0.9 * t) * (1 + t); }

void set_grads(NamedTensors<double>& params, int t) {
  for (std::size_t p = 0; p < params.size(); ++p) {
    Array<double>& g = params[p].second.grad_mut();
    for (std::size_t i = 0; i < g.size(); ++i) g.data()[i] = grad_value(p, i, t);
  }
}

std::vector<double> flat(const NamedTensors<double>& params) {
  std::vector<double> out;
  for (const auto& entry : params) out.insert(out.end(), entry.second.data(), entry.second.data() + entry.second.numel());
  return out;
}

// Flat gradient list in the same order as flat().
std::vector<double> flat_grads(int t) {
  std::vector<double> g;
  for (std::size_t i = 0; i < 4; ++i) g.push_back(grad_value(0, i, t));
  for (std::size_t i = 0; i < 3; ++i) g.push_back(grad_value(1, i, t));
  return g;
}

// Reference SGD, written from the PyTorch docs, on flat vectors.
std::vector<double> reference_sgd(std::vector<double> w, const SgdOptions& o, int steps) {
  std::vector<double> b(w.size(), 0.0);
  for (int t = 1; t <= steps; ++t) {
    const std::vector<double> g = flat_grads(t);
    for (std::size_t i = 0; i < w.size(); ++i) {
      double gt = g[i] + o.weight_decay * w[i];
      if (o.momentum != 0) {
        b[i] = t == 1 ? gt : o.momentum * b[i] + (1 - o.dampening) * gt;
        gt = o.nesterov ? gt + o.momentum * b[i] : b[i];
      }
      w[i] = w[i] - o.lr * gt;
    }
  }
  return w;
}

// Reference Adam / AdamW from the PyTorch docs (m_hat, v_hat form).
std::vector<double> reference_adam(std::vector<double> w, const AdamOptions& o, bool decoupled, int steps) {
  std::vector<double> m(w.size(), 0.0), v(w.size(), 0.0);
  for (int t = 1; t <= steps; ++t) {
    const std::vector<double> g = flat_grads(t);
    for (std::size_t i = 0; i < w.size(); ++i) {
      double gt = g[i];
      if (decoupled) w[i] = w[i] - o.lr * o.weight_decay * w[i];
      else gt = gt + o.weight_decay * w[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * gt;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * gt * gt;
      const double m_hat = m[i] / (1 - std::pow(o.beta1, t));
      const double v_hat = v[i] / (1 - std::pow(o.beta2, t));
      w[i] = w[i] - o.lr * m_hat / (std::sqrt(v_hat) + o.eps);
    }
  }
  return w;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).epsilon(1e-12).margin(1e-14));
  }
}

template <class Opt, class Options>
std::vector<double> run(const Options& options, int steps) {
  NamedTensors<double> params = make_params();
  Opt opt(params, options);
  for (int t = 1; t <= steps; ++t) {
    set_grads(params, t);
    opt.step();
    opt.zero_grad();
  }
  CHECK(opt.step_count() == steps);
  return flat(params);
}

}  // namespace

TEST_CASE("SGD: hand-computed momentum steps", "[engine][optim]") {
  // w = 1, g = 1 every step, lr 0.1, mu 0.9: b = 1, 1.9, 2.71; w = 0.9, 0.71, 0.439.
  NamedTensors<double> params = {{"w", Tensor<double>::ones({1}, true)}};
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  SGD<double> opt(params, o);
  const double expected[] = {0.9, 0.71, 0.439};
  for (double want : expected) {
    params[0].second.grad_mut().fill(1.0);
    opt.step();
    CHECK(params[0].second.item() == Approx(want).epsilon(1e-14));
  }
}

TEST_CASE("SGD: plain, momentum, dampening, Nesterov and weight decay match the formulas", "[engine][optim]") {
  const std::vector<double> w0 = flat(make_params());
  SgdOptions plain;
  plain.lr = 0.1;
  SgdOptions momentum = plain;
  momentum.momentum = 0.9;
  momentum.dampening = 0.3;
  momentum.weight_decay = 0.05;
  SgdOptions nesterov = plain;
  nesterov.momentum = 0.8;
  nesterov.nesterov = true;
  nesterov.weight_decay = 0.01;
  for (const SgdOptions& o : {plain, momentum, nesterov}) {
    INFO("momentum " << o.momentum << " nesterov " << o.nesterov);
    check_close(run<SGD<double>>(o, 3), reference_sgd(w0, o, 3));
  }
}

TEST_CASE("Adam: first step moves each weight by about lr against the gradient sign", "[engine][optim]") {
  // m_hat = g, v_hat = g^2 after one step, so the update is lr g / (|g| + eps).
  NamedTensors<double> params = {{"w", Tensor<double>::from_vector({3}, {1.0, 1.0, 1.0}, true)}};
  AdamOptions o;
  o.lr = 0.01;
  Adam<double> opt(params, o);
  params[0].second.grad_mut() = Array<double>({2.0, -0.5, 1e-3});
  opt.step();
  CHECK(params[0].second.data()[0] == Approx(1.0 - 0.01 * 2.0 / (2.0 + 1e-8)).epsilon(1e-14));
  CHECK(params[0].second.data()[1] == Approx(1.0 + 0.01 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(params[0].second.data()[2] == Approx(1.0 - 0.01 * 1e-3 / (1e-3 + 1e-8)).epsilon(1e-14));
}

TEST_CASE("Adam and AdamW: three steps match the formulas", "[engine][optim]") {
  const std::vector<double> w0 = flat(make_params());
  AdamOptions o;
  o.lr = 0.05;
  o.beta1 = 0.8;
  o.beta2 = 0.95;
  o.eps = 1e-6;
  check_close(run<Adam<double>>(o, 3), reference_adam(w0, o, false, 3));
  o.weight_decay = 0.1;  // coupled L2
  check_close(run<Adam<double>>(o, 3), reference_adam(w0, o, false, 3));
  check_close(run<AdamW<double>>(o, 3), reference_adam(w0, o, true, 3));
  // Decoupled and coupled decay really differ.
  CHECK(run<AdamW<double>>(o, 3)[2] != Approx(run<Adam<double>>(o, 3)[2]).epsilon(1e-6));
  CHECK(AdamW<double>::adamw_defaults().weight_decay == 0.01);
}

TEST_CASE("Optimizer: parameters without a gradient are skipped", "[engine][optim]") {
  NamedTensors<double> params = make_params();
  AdamW<double> opt(params);
  params[0].second.grad_mut().fill(1.0);  // only "a" has a gradient
  const std::vector<double> b_before(params[1].second.data(), params[1].second.data() + 3);
  opt.step();
  CHECK(std::equal(b_before.begin(), b_before.end(), params[1].second.data()));
  CHECK(params[0].second.data()[0] != 0.5);
}

TEST_CASE("Optimizer: exported state resumes bit-exactly", "[engine][optim]") {
  auto check_resume = [](auto make_optimizer) {
    NamedTensors<double> straight = make_params(), resumed = make_params();
    auto opt = make_optimizer(straight);
    for (int t = 1; t <= 3; ++t) {
      set_grads(straight, t);
      opt->set_lr(0.01 * t);
      opt->step();
    }
    const OptimizerState<double> state = opt->export_state();
    // A fresh optimizer on a copy of the weights, with the state imported; and one without.
    NamedTensors<double> cold = make_params();
    for (std::size_t p = 0; p < straight.size(); ++p) {
      resumed[p].second.value() = straight[p].second.value();
      cold[p].second.value() = straight[p].second.value();
    }
    auto opt2 = make_optimizer(resumed);
    auto opt_cold = make_optimizer(cold);
    opt2->import_state(state, "ckpt");
    opt_cold->set_lr(opt->lr());
    CHECK(opt2->step_count() == 3);
    CHECK(opt2->lr() == opt->lr());
    for (int t = 4; t <= 6; ++t) {
      for (auto* params : {&straight, &resumed, &cold}) set_grads(*params, t);
      opt->step();
      opt2->step();
      opt_cold->step();
    }
    const std::vector<double> a = flat(straight), b = flat(resumed), c = flat(cold);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);
    CHECK(a != c);  // the state matters, so the test above can fail
    return state;
  };
  const auto adam_state = check_resume([](NamedTensors<double>& p) { return std::make_unique<Adam<double>>(p, AdamOptions{}); });
  std::vector<std::string> names;
  for (const auto& entry : adam_state.arrays) names.push_back(entry.first);
  CHECK(names == std::vector<std::string>{"adam.m.a", "adam.m.b", "adam.v.a", "adam.v.b"});
  CHECK(adam_state.scalars.at("adam.step") == "3");
  CHECK(adam_state.scalars.at("adam.lr") == "0.03");
  SgdOptions so;
  so.lr = 0.1;
  so.momentum = 0.9;
  const auto sgd_state = check_resume([&](NamedTensors<double>& p) { return std::make_unique<SGD<double>>(p, so); });
  CHECK(sgd_state.arrays.size() == 2);
  CHECK(sgd_state.arrays[1].first == "sgd.momentum.b");
}

TEST_CASE("Optimizer: import_state errors name the entry and the source", "[engine][optim][errors]") {
  NamedTensors<double> params = make_params();
  Adam<double> adam(params, AdamOptions{});
  OptimizerState<double> state = adam.export_state();

  OptimizerState<double> bad = state;
  bad.arrays[1].second = filled_array<double>({4}, 0.0);
  CHECK_THROWS_WITH(adam.import_state(bad, "run.safetensors"),
                    Catch::Contains("adam.m.b") && Catch::Contains("[4]") && Catch::Contains("[3]") &&
                        Catch::Contains("run.safetensors"));
  bad = state;
  bad.arrays.erase(bad.arrays.begin() + 2);
  CHECK_THROWS_WITH(adam.import_state(bad, "run.safetensors"), Catch::Contains("missing") && Catch::Contains("adam.v.a"));
  bad = state;
  bad.arrays.emplace_back("adam.m.c", filled_array<double>({1}, 0.0));
  CHECK_THROWS_WITH(adam.import_state(bad, "f"), Catch::Contains("unexpected") && Catch::Contains("adam.m.c"));
  bad = state;
  bad.scalars["adam.step"] = "three";
  CHECK_THROWS_WITH(adam.import_state(bad, "f"), Catch::Contains("three"));
  // State of another optimizer kind.
  AdamW<double> adamw(params);
  CHECK_THROWS_WITH(adamw.import_state(state, "f"), Catch::Contains("adamw.step"));
}

TEST_CASE("Optimizer: argument errors", "[engine][optim][errors]") {
  NamedTensors<double> params = make_params();
  SgdOptions nesterov_without_momentum;
  nesterov_without_momentum.nesterov = true;
  CHECK_THROWS_WITH(SGD<double>(params, nesterov_without_momentum), Catch::Contains("Nesterov"));
  AdamOptions bad_beta;
  bad_beta.beta2 = 1.0;
  CHECK_THROWS_WITH(Adam<double>(params, bad_beta), Catch::Contains("betas"));
  NamedTensors<double> twice = {params[0], params[0]};
  CHECK_THROWS_WITH(Adam<double>(twice, AdamOptions{}), Catch::Contains("'a'") && Catch::Contains("twice"));
  Adam<double> adam(params, AdamOptions{});
  CHECK_THROWS_AS(adam.set_lr(-1), std::invalid_argument);
}

TEST_CASE("clip_grad_norm: returns the pre-clip norm and scales to max_norm", "[engine][optim]") {
  NamedTensors<double> params = make_params();
  set_grads(params, 2);
  double sum_sq = 0;
  for (double g : flat_grads(2)) sum_sq += g * g;
  const double norm = std::sqrt(sum_sq);
  REQUIRE(norm > 1.0);
  CHECK(clip_grad_norm(params, 1.0) == Approx(norm).epsilon(1e-14));
  double after = 0;
  for (auto& entry : params)
    for (double g : entry.second.grad()) after += g * g;
  CHECK(std::sqrt(after) == Approx(1.0).epsilon(1e-5));
  // Directions are kept.
  CHECK(params[1].second.grad().data()[2] == Approx(grad_value(1, 2, 2) / (norm + 1e-6)).epsilon(1e-12));
  // Under the limit nothing changes.
  set_grads(params, 2);
  CHECK(clip_grad_norm(params, 2 * norm) == Approx(norm));
  CHECK(params[0].second.grad().data()[0] == grad_value(0, 0, 2));
  CHECK_THROWS_AS(clip_grad_norm(params, 0.0), std::invalid_argument);
}

TEST_CASE("Optimizers: float32 follows float64", "[engine][optim]") {
  NamedTensors<double> p64 = make_params();
  NamedTensors<float> p32;
  for (auto& [name, t] : p64) p32.emplace_back(name, to_float(t).set_requires_grad());
  Adam<double> a64(p64, AdamOptions{});
  Adam<float> a32(p32, AdamOptions{});
  for (int t = 1; t <= 5; ++t) {
    set_grads(p64, t);
    for (std::size_t p = 0; p < 2; ++p) p32[p].second.grad_mut() = to_float(Tensor<double>(p64[p].second.grad())).value();
    a64.step();
    a32.step();
  }
  for (std::size_t p = 0; p < 2; ++p) CHECK(max_mixed_error(p32[p].second.value(), p64[p].second.value()) < 1e-5);
}
