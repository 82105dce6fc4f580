#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/small_gemm.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

enum class Mode { set, acc, tril };

struct Case {
  bool ta, tb;
  int M, N, K;
  int pad;  // extra stored columns per row: ld > cols
  Mode mode;
  Zeros zeros = Zeros::none;
};

// Runs one case and returns the worst |error| / (sum_k |a_ik b_kj| + |c_ij|) against a float64
// loop; elements outside the views (the ld padding) must be left untouched.
template <class T>
double worst_scaled_error(const Case& c, unsigned seed) {
  const int a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  auto A = pf::test::normal_values<T>(std::size_t(a_rows) * lda, seed);
  const auto B = pf::test::normal_values<T>(std::size_t(b_rows) * ldb, seed + 1);
  auto a_at = [&](int i, int k) -> T& { return c.ta ? A[std::size_t(k) * lda + i] : A[std::size_t(i) * lda + k]; };
  auto b_at = [&](int k, int j) { return c.tb ? B[std::size_t(j) * ldb + k] : B[std::size_t(k) * ldb + j]; };
  for (int i = 0; i < c.M; ++i)  // make the promised zeros true
    for (int k = 0; k < c.K; ++k)
      if ((c.zeros == Zeros::above_diagonal && k > i) || (c.zeros == Zeros::below_diagonal && k < i)) a_at(i, k) = 0;
  auto C = pf::test::normal_values<T>(std::size_t(c.M) * ldc, seed + 2);
  if (c.mode != Mode::acc)  // set and tril must not read C
    for (int i = 0; i < c.M; ++i)
      for (int j = 0; j < c.N; ++j) C[std::size_t(i) * ldc + j] = std::numeric_limits<T>::quiet_NaN();
  const std::vector<T> C0 = C;
  const MatView<const T> a = c.ta ? mat<const T>(A.data(), c.K, c.M, lda).T() : mat<const T>(A.data(), c.M, c.K, lda);
  const MatView<const T> b = c.tb ? mat<const T>(B.data(), c.N, c.K, ldb).T() : mat<const T>(B.data(), c.K, c.N, ldb);
  const MatView<T> cv = mat(C.data(), c.M, c.N, ldc);
  if (c.mode == Mode::set) small_gemm_set(cv, a, b);
  if (c.mode == Mode::acc) small_gemm_acc(cv, a, b, c.zeros);
  if (c.mode == Mode::tril) small_gemm_tril(cv, a, b);
  double worst = 0;
  for (int i = 0; i < c.M; ++i) {
    for (int j = 0; j < c.N; ++j) {
      const std::size_t at = std::size_t(i) * ldc + j;
      double expect = 0, scale = 0;
      for (int k = 0; k < c.K; ++k) {
        expect += double(a_at(i, k)) * double(b_at(k, j));
        scale += std::abs(double(a_at(i, k)) * double(b_at(k, j)));
      }
      if (c.mode == Mode::acc) {
        expect += double(C0[at]);
        scale += std::abs(double(C0[at]));
      }
      if (c.mode == Mode::tril && j > i) expect = 0, scale = 0;
      const double err = std::abs(double(C[at]) - expect);
      if (!(err <= 1e-30 || err / scale < 1e300)) return 1e300;  // NaN: C was read, or garbage
      worst = std::max(worst, err / (scale + 1e-300));
    }
    for (int j = c.N; j < ldc; ++j) {  // padding untouched
      const std::size_t at = std::size_t(i) * ldc + j;
      if (!(C[at] == C0[at])) return 1e300;
    }
  }
  return worst;
}

template <class T>
void check_shapes(double tolerance) {
  // Sizes around the register tiles (6 rows x 1, 2, 4 vectors; 4 x 4 dot tiles), a ragged last
  // vector (65 = 64 + 1), vectors of one element (1 x N x 1), K shorter than one vector.
  const int sizes[][3] = {{1, 1, 1},  {1, 37, 1},  {1, 1, 300}, {7, 1, 5},    {6, 64, 256},  {32, 65, 256},
                          {32, 32, 65}, {13, 17, 3}, {33, 129, 31}, {256, 65, 32}, {5, 3, 0}, {0, 4, 4}};
  unsigned seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& s : sizes)
        for (int pad : {0, 3})
          for (Mode mode : {Mode::set, Mode::acc}) {
            const Case c{ta, tb, s[0], s[1], s[2], pad, mode};
            INFO("ta=" << ta << " tb=" << tb << " M=" << c.M << " N=" << c.N << " K=" << c.K << " pad=" << pad
                       << " acc=" << (mode == Mode::acc));
            REQUIRE(worst_scaled_error<T>(c, seed++) < tolerance);
          }
}

template <class T>
void check_triangles(double tolerance) {
  unsigned seed = 100;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int n : {1, 5, 6, 7, 17, 32, 33})
        for (int cols : {1, 20, 65})
          for (int pad : {0, 2}) {
            INFO("ta=" << ta << " tb=" << tb << " n=" << n << " cols=" << cols << " pad=" << pad);
            for (Zeros z : {Zeros::above_diagonal, Zeros::below_diagonal})
              REQUIRE(worst_scaled_error<T>(Case{ta, tb, n, cols, n, pad, Mode::acc, z}, seed++) < tolerance);
            REQUIRE(worst_scaled_error<T>(Case{ta, tb, n, n, cols, pad, Mode::tril}, seed++) < tolerance);
          }
}

}  // namespace

TEST_CASE("small_gemm matches a float64 product on edge shapes, transposes and padded rows", "[engine][gemm]") {
  check_shapes<float>(1e-5);
  check_shapes<double>(1e-13);
}

TEST_CASE("small_gemm: known triangular zeros of A and the tril output give the full product's values",
          "[engine][gemm]") {
  check_triangles<float>(1e-5);
  check_triangles<double>(1e-13);
}

TEST_CASE("small_gemm: shapes that do not fit throw and name the shapes", "[engine][gemm]") {
  std::vector<float> x(64, 1.0f);
  const auto a = mat<const float>(x.data(), 2, 3), b = mat<const float>(x.data(), 4, 2);
  CHECK_THROWS_WITH(small_gemm_set(mat(x.data(), 2, 2), a, b), Catch::Contains("[2,3]") && Catch::Contains("[4,2]"));
  CHECK_THROWS_WITH(small_gemm_acc(mat(x.data(), 2, 2), a, mat<const float>(x.data(), 3, 2), Zeros::above_diagonal),
                    Catch::Contains("square"));
  CHECK_THROWS_WITH(small_gemm_tril(mat(x.data(), 2, 3), a, mat<const float>(x.data(), 3, 3)),
                    Catch::Contains("square"));
}
