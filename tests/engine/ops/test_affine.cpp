#include <array>

#include "composite_twin.hpp"
#include "engine/ops/affine.hpp"
#include "engine/ops/elementwise.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/core/memory.hpp"
#include "engine/ops/shape_ops.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("affine: gradcheck with and without bias, 2-D and 3-D input", "[engine][affine][gradcheck]") {
  for (const Shape& xs : {Shape{4, 3}, Shape{2, 3, 3}}) {
    INFO("x " << shape_str(xs));
    require_gradcheck([](const Vec& in) { return affine(in[0], in[1], &in[2]); },
                      {random_tensor(xs, 1), random_tensor({5, 3}, 2), random_tensor({5}, 3)});
    require_gradcheck([](const Vec& in) { return affine(in[0], in[1]); },
                      {random_tensor(xs, 4), random_tensor({5, 3}, 5)});
  }
}

TEST_CASE("affine: equals matmul followed by the bias add, in value and gradients", "[engine][affine]") {
  require_twin_match([](const Vec& in) { return affine(in[0], in[1], &in[2]); },
                     [](const Vec& in) { return matmul(in[0], in[1], false, true) + in[2]; },
                     {random_tensor({2, 7, 6}, 6), random_tensor({4, 6}, 7), random_tensor({4}, 8)});
}

TEST_CASE("gelu_affine: gradcheck and equal to affine(gelu(u))", "[engine][affine][gradcheck]") {
  require_gradcheck([](const Vec& in) { return gelu_affine(in[0], in[1], &in[2]); },
                    {random_tensor({2, 3, 4}, 9), random_tensor({3, 4}, 10), random_tensor({3}, 11)});
  require_gradcheck([](const Vec& in) { return gelu_affine(in[0], in[1]); },
                    {random_tensor({5, 4}, 12), random_tensor({3, 4}, 13)});
  require_twin_match([](const Vec& in) { return gelu_affine(in[0], in[1], &in[2]); },
                     [](const Vec& in) { return matmul(gelu(in[0]), in[1], false, true) + in[2]; },
                     {random_tensor({3, 5, 8}, 14), random_tensor({6, 8}, 15), random_tensor({6}, 16)});
}

TEST_CASE("gelu_affine: float32 values equal affine(gelu(u)) bit for bit", "[engine][affine]") {
  // One GELU formula (engine/kernels/gelu.hpp) and one product-plus-bias path: the fused op only
  // skips keeping gelu(u), so no value may differ. Rows and widths span SIMD tails and GEMM edge
  // tiles; the inputs cover GELU's tails, where an erf form and an erfc form round differently.
  for (const auto& [rows, in, out] : {std::array<std::size_t, 3>{37, 70, 33}, std::array<std::size_t, 3>{5, 3, 2}}) {
    std::vector<float> uv = normal_values<float>(rows * in, 21);
    for (float& v : uv) v *= 3.0f;  // out to |u| ~ 9
    const std::vector<float> wv = normal_values<float>(out * in, 22), bv = normal_values<float>(out, 23);
    const Tensor<float> u = Tensor<float>::from_vector({rows, in}, uv), w = Tensor<float>::from_vector({out, in}, wv),
                        b = Tensor<float>::from_vector({out}, bv);
    const Tensor<float> fused = gelu_affine(u, w, &b), composite = affine(gelu(u), w, &b);
    REQUIRE(fused.shape() == composite.shape());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < fused.value().size(); ++i) differing += fused.data()[i] != composite.data()[i];
    INFO("rows " << rows << ", in " << in << ", out " << out);
    CHECK(differing == 0);
  }
}

TEST_CASE("affine: the tape keeps only the output", "[engine][affine][memory]") {
  // The point of the fused ops: one [rows, out] buffer per call, where matmul + add kept two
  // and gelu + matmul + add kept three.
  const std::size_t rows = 256, in = 64, out = 128;
  Tensor<float> x = Tensor<float>::zeros({rows, in}, true);
  Tensor<float> w = Tensor<float>::zeros({out, in}, true), b = Tensor<float>::zeros({out}, true);
  // Each node also holds an empty gradient array (one 64-byte pool block): allow 1 KiB.
  auto grew_by = [before = memory_stats().live_bytes](std::size_t floats) {
    const std::size_t delta = memory_stats().live_bytes - before, want = floats * sizeof(float);
    INFO("grew by " << delta << " bytes, expected " << want);
    CHECK(delta >= want);
    CHECK(delta < want + 1024);
  };
  Tensor<float> y = affine(x, w, &b);
  grew_by(rows * out);
  Tensor<float> z = gelu_affine(y, Tensor<float>::zeros({in, out}, true));
  grew_by(rows * out + in * out + rows * in);  // y, the new weight and z: gelu(y) is not kept
}

TEST_CASE("affine: shape errors name the shapes", "[engine][affine][errors]") {
  auto x = random_tensor({4, 3}, 1), w = random_tensor({5, 2}, 2), b = random_tensor({4}, 3);
  CHECK_THROWS_WITH(affine(x, w), Catch::Contains("[4,3]") && Catch::Contains("[5,2]"));
  auto w_ok = random_tensor({5, 3}, 4);
  CHECK_THROWS_WITH(affine(x, w_ok, &b), Catch::Contains("bias [4]") && Catch::Contains("[5]"));
  CHECK_THROWS_WITH(gelu_affine(x, w), Catch::Contains("gelu_affine"));
}

TEST_CASE("affine_permuted: equals permute_as of affine; gradcheck", "[engine][affine][gradcheck]") {
  const Shape view{2, 3, 2, 2}, shape{2, 2, 3, 2};  // [B, L, D = 4] into 2 heads of 2
  const std::vector<std::size_t> axes{0, 2, 1, 3};
  require_twin_match([&](const Vec& in) { return affine_permuted(in[0], in[1], &in[2], view, axes, shape); },
                     [&](const Vec& in) { return permute_as(affine(in[0], in[1], &in[2]), view, axes, shape); },
                     {random_tensor({2, 3, 5}, 17), random_tensor({4, 5}, 18), random_tensor({4}, 19)});
  require_gradcheck([&](const Vec& in) { return affine_permuted(in[0], in[1], &in[2], view, axes, shape); },
                    {random_tensor({2, 3, 5}, 20), random_tensor({4, 5}, 21), random_tensor({4}, 22)});
  require_gradcheck(
      [&](const Vec& in) { return affine_permuted(in[0], in[1], static_cast<const Tensor<double>*>(nullptr), Shape{2, 3, 4}, {1, 0, 2}, Shape{3, 2, 4}); },
      {random_tensor({2, 3, 5}, 23), random_tensor({4, 5}, 24)});
}

// gelu_affine(u, w, b) + affine(u, w) against the composite, in both orders of the sum, so the
// fused backward runs once before the other consumer's (writing du) and once after (adding to it).
// With a frozen weight, w is a constant of both sides and only u and b get gradients.
static void require_gelu_affine_beside_affine(const Tensor<double>& u, const Tensor<double>& w, const Tensor<double>& b,
                                              bool frozen_weight = false) {
  for (bool fused_first : {true, false}) {
    INFO("fused first " << fused_first << ", frozen weight " << frozen_weight);
    auto pair = [fused_first](const Tensor<double>& x, const Tensor<double>& y) { return fused_first ? x + y : y + x; };
    // The inputs are {u, w, b}, or {u, b} with w frozen.
    auto weight = [&](const Vec& in) { return frozen_weight ? w : in[1]; };
    auto bias = [&](const Vec& in) { return frozen_weight ? in[1] : in[2]; };
    require_twin_match(
        [&](const Vec& in) {
          const Tensor<double> wt = weight(in), bt = bias(in);
          return pair(gelu_affine(in[0], wt, &bt), affine(in[0], wt));
        },
        [&](const Vec& in) {
          const Tensor<double> wt = weight(in);
          return pair(matmul(gelu(in[0]), wt, false, true) + bias(in), matmul(in[0], wt, false, true));
        },
        frozen_weight ? Vec{u, b} : Vec{u, w, b});
  }
}

TEST_CASE("gelu_affine: an input with other consumers accumulates its gradient", "[engine][affine]") {
  require_gelu_affine_beside_affine(random_tensor({2, 3, 4}, 25), random_tensor({4, 4}, 26), random_tensor({4}, 27));
}

TEST_CASE("gelu_affine: the backward's row blocks (several, a ragged last one) match the composite",
          "[engine][affine]") {
  // The backward makes gelu(u) 2^17 values at a time: with in = 4096 a block is 32 rows, so 70
  // rows take blocks of 32, 32 and 6.
  const Tensor<double> u = random_tensor({70, 4096}, 28), w = random_tensor({3, 4096}, 29), b = random_tensor({3}, 30);
  SECTION("weight and input both learn") { require_gelu_affine_beside_affine(u, w, b); }
  SECTION("a frozen weight: du alone") { require_gelu_affine_beside_affine(u, w, b, true); }
  SECTION("a frozen input: dW and db alone") {
    require_twin_match([&](const Vec& in) { return gelu_affine(u, in[0], &in[1]); },
                       [&](const Vec& in) { return matmul(gelu(u), in[0], false, true) + in[1]; }, {w, b});
  }
}

// in = 0: the product is empty, so y is the bias on every row (zeros without one), in float and
// double (BLAS refuses a leading dimension of 0, so this must not reach it).
TEST_CASE("affine: an input width of 0 gives the bias on every row", "[engine][affine]") {
  const auto check = [](auto zero) {
    using T = decltype(zero);
    const Tensor<T> x(empty_array<T>({3, 0}));
    const Tensor<T> w(empty_array<T>({2, 0}));
    Array<T> b = empty_array<T>({2});
    b.data()[0] = T(1.5), b.data()[1] = T(-2);
    const Tensor<T> bias(b);
    const Tensor<T> y = affine(x, w, &bias), y0 = affine(x, w);
    REQUIRE(y.shape() == Shape{3, 2});
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(y.data()[i * 2] == T(1.5));
      CHECK(y.data()[i * 2 + 1] == T(-2));
      CHECK(y0.data()[i * 2] == T(0));
      CHECK(y0.data()[i * 2 + 1] == T(0));
    }
  };
  check(0.0f);
  check(0.0);
}

TEST_CASE("affine and matmul: a side past the GEMM's int is refused, naming it", "[engine][affine][errors]") {
  // Empty tensors (no memory) whose shapes still ask for a product with 2^31 rows.
  const std::size_t big = std::size_t(1) << 31;
  const Tensor<float> x(empty_array<float>({big, 0})), w(empty_array<float>({3, 0}));
  CHECK_THROWS_WITH(affine(x, w), Catch::Contains("2147483648") && Catch::Contains("2^31 - 1"));
  CHECK_THROWS_WITH(gelu_affine(x, w), Catch::Contains("2147483648"));
  const Tensor<float> b(empty_array<float>({0, 2}));
  CHECK_THROWS_WITH(matmul(x, b), Catch::Contains("2147483648") && Catch::Contains("2^31 - 1"));
}
