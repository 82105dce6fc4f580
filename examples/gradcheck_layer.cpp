// Gradient-check your own layer: the example from the README, as a program.
#include <fmt/format.h>

#include "engine/engine.hpp"
using namespace pf;

// A user's op: y = tanh(x W) * s, built from engine ops (or with its own make_result backward).
Tensor<double> my_layer(const Tensor<double>& x, const Tensor<double>& w, const Tensor<double>& s) {
  return pf::tanh(matmul(x, w)) * s;
}

int main() {
  Rng rng(7);
  auto x = randn<double>({4, 3}, rng), w = randn<double>({3, 5}, rng), s = randn<double>({5}, rng);
  GradcheckResult r = gradcheck([](const std::vector<Tensor<double>>& in) {
    return my_layer(in[0], in[1], in[2]);
  }, {x, w, s});
  fmt::print("{}", r.report());   // per input: max abs / rel error, worst element
  return r.passed ? 0 : 1;        // passed: every max rel error <= 1e-6
}
