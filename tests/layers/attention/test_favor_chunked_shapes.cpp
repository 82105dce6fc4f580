// The chunked causal form at shapes where small_gemm's vector tiles are full and ragged (M and
// dv + 1 not multiples of the vector width, dv + 1 = 65 as in the models), in float32 and
// float64, against the per-token form (favor_causal.cpp, a different algorithm: prefix sums,
// no blocks) on the outputs and on all three gradients.
#include <algorithm>
#include <cmath>

#include "layers/attention/attention_fixtures.hpp"
#include "layers/attention/favor_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

template <class T>
Tensor<T> leaf(const Array<double>& values) {
  Array<T> a = empty_array<T>(Shape(values.shape().begin(), values.shape().end()));
  std::copy(values.begin(), values.end(), a.begin());
  return Tensor<T>(std::move(a), true);
}

// Positive features (0.1 + exp(N(0, 1))) / 4, as the feature maps give.
Array<double> positive_values(const Shape& shape, std::uint64_t seed) {
  Array<double> a = random_tensor(shape, seed).value();
  for (double& x : a) x = (0.1 + std::exp(x)) / 4;
  return a;
}

template <class A, class B>
double max_diff_over_scale(const A& got, const B& want) {
  double diff = 0, scale = 0;
  auto w = want.begin();
  for (auto g = got.begin(); g != got.end(); ++g, ++w) {
    diff = std::max(diff, std::abs(double(*g) - double(*w)));
    scale = std::max(scale, std::abs(double(*w)));
  }
  return diff / (scale + 1e-300);
}

template <class T>
void check_chunked_against_per_token(std::size_t len, std::size_t features, std::size_t dv, std::size_t chunk,
                                     bool padded, double tolerance) {
  const Shape qs{2, 2, len, features}, vs{2, 2, len, dv};
  const Array<double> qd = positive_values(qs, 1), kd = positive_values(qs, 2);
  const Array<double> vd = random_tensor(vs, 3).value(), gd = random_tensor(vs, 4).value();
  const Mask mask = tail_padding(2, len, {0, len / 3});
  const Mask* m = padded ? &mask : nullptr;
  Array<T> g = empty_array<T>(vs);
  std::copy(gd.begin(), gd.end(), g.begin());

  Tensor<T> q = leaf<T>(qd), k = leaf<T>(kd), v = leaf<T>(vd);
  Tensor<T> want = favor_causal(q, k, v, m);
  want.backward(g);
  const Array<T> want_dq = q.grad(), want_dk = k.grad(), want_dv = v.grad();
  for (auto* t : {&q, &k, &v}) t->zero_grad();
  Tensor<T> got = favor_causal_chunked(q, k, v, m, chunk);
  got.backward(g);
  INFO("L " << len << " M " << features << " dv " << dv << " chunk " << chunk << " padded " << padded);
  CHECK(max_diff_over_scale(got.value(), want.value()) < tolerance);
  CHECK(max_diff_over_scale(q.grad(), want_dq) < tolerance);
  CHECK(max_diff_over_scale(k.grad(), want_dk) < tolerance);
  CHECK(max_diff_over_scale(v.grad(), want_dv) < tolerance);
}

template <class T>
void check_shapes(double tolerance) {
  for (bool padded : {false, true}) {
    check_chunked_against_per_token<T>(100, 40, 20, 32, padded, tolerance);  // M = 2.5 float vectors, dv + 1 = 21
    check_chunked_against_per_token<T>(100, 40, 20, 7, padded, tolerance);   // blocks smaller than a tile
    check_chunked_against_per_token<T>(96, 64, 64, 32, padded, tolerance);   // dv + 1 = 65, as the models
    check_chunked_against_per_token<T>(70, 17, 33, 64, padded, tolerance);   // one ragged block
    check_chunked_against_per_token<T>(80, 72, 16, 32, padded, tolerance);   // M > 64: K' not transposed
  }
}

}  // namespace

TEST_CASE("favor causal chunked equals per-token at vector-sized and ragged shapes, float64", "[layers][favor]") {
  check_shapes<double>(1e-11);
}

TEST_CASE("favor causal chunked equals per-token at vector-sized and ragged shapes, float32", "[layers][favor]") {
  check_shapes<float>(2e-5);
}
