// Shared helpers for the test suite.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/core/gradcheck.hpp"
#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"
#include "engine/kernels/thread_pool.hpp"

namespace pf::test {

// The inputs of a function under gradcheck: a list of double tensors.
using Vec = std::vector<Tensor<double>>;

// Fails the test (printing gradcheck's report) unless every input's max relative error <= tol.
inline void require_gradcheck(const GradcheckFn& f, const Vec& inputs, double tol = 1e-6) {
  GradcheckOptions opt;
  opt.tolerance = tol;
  const GradcheckResult r = gradcheck(f, inputs, opt);
  INFO(r.report());
  REQUIRE(r.passed);
}

// n draws from N(0, 1) (std::mt19937 seeded with `seed`, in double) as T: raw operand buffers
// for the kernel tests.
template <class T>
std::vector<T> normal_values(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<T> v(n);
  for (auto& x : v) x = T(dist(gen));
  return v;
}

// A random double tensor with gradient tracking off (gradcheck turns it on).
inline Tensor<double> random_tensor(const Shape& shape, std::uint64_t seed, double stddev = 1.0) {
  Rng rng(seed);
  return randn<double>(shape, rng, stddev);
}

// An index array of `shape` holding `values` in row-major order (their count must match).
inline Indices make_indices(const Shape& shape, const std::vector<std::int64_t>& values) {
  Indices t = empty_array<std::int64_t>(shape);
  REQUIRE(values.size() == t.size());
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

// Float copy of a double tensor.
inline Tensor<float> to_float(const Tensor<double>& t) {
  Array<float> a = empty_array<float>(t.shape());
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<float>(t.data()[i]);
  return Tensor<float>(std::move(a));
}

// max |a - b| over all elements; sizes must agree.
inline double max_abs_diff(const Array<double>& a, const Array<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
  return worst;
}

// max |a - b| / (1 + |b|) over all elements; shapes must agree.
inline double max_mixed_error(const Array<float>& a, const Array<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - b.data()[i]) / (1.0 + std::abs(b.data()[i])));
  return worst;
}

// Token ids [B, L], uniform below `vocab`, from `seed`.
inline Indices random_ids(std::size_t B, std::size_t L, std::size_t vocab, std::uint64_t seed) {
  Rng rng(seed);
  Indices ids = Indices::from_shape({B, L});
  for (auto& v : ids) v = static_cast<std::int64_t>(rng.below(vocab));
  return ids;
}

// The engine's thread count set to n for one scope (restored after).
struct ThreadsFor {
  int before = num_threads();
  explicit ThreadsFor(int n) { set_num_threads(n); }
  ~ThreadsFor() { set_num_threads(before); }
  ThreadsFor(const ThreadsFor&) = delete;
  ThreadsFor& operator=(const ThreadsFor&) = delete;
};

}  // namespace pf::test
