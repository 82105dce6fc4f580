#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/gemm.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

// Element (i, j) of a view as the math reads it, by a loop over the storage.
template <class E>
double at(const MatView<E>& x, int i, int j) {
  return x.transposed ? x.data[std::size_t(j) * x.ld + i] : x.data[std::size_t(i) * x.ld + j];
}

// An M x N result from an M x K by K x N product, every operand stored with `pad` extra columns,
// A and B stored transposed when asked; checks C = alpha A B (set) and C += alpha A B (acc)
// against a loop, and that padding columns of C are never written.
template <class T>
void check_case(bool ta, bool tb, int M, int N, int K, int pad, T alpha, double tol) {
  const int a_cols = ta ? M : K, b_cols = tb ? K : N;
  const int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
  auto a_store = pf::test::normal_values<T>(std::size_t(ta ? K : M) * lda, 1);
  auto b_store = pf::test::normal_values<T>(std::size_t(tb ? N : K) * ldb, 2);
  auto c_store = pf::test::normal_values<T>(std::size_t(M) * ldc, 3);
  const std::vector<T> c0 = c_store;
  const MatView<const T> A = ta ? mat<const T>(a_store.data(), K, M, lda).T() : mat<const T>(a_store.data(), M, K, lda);
  const MatView<const T> B = tb ? mat<const T>(b_store.data(), N, K, ldb).T() : mat<const T>(b_store.data(), K, N, ldb);
  const MatView<T> C = mat(c_store.data(), M, N, ldc);
  REQUIRE(A.rows == M);
  REQUIRE(A.cols == K);
  REQUIRE(B.rows == K);
  REQUIRE(B.cols == N);
  for (bool accumulate : {false, true}) {
    c_store = c0;
    if (accumulate) gemm_acc(C, A, B, alpha);
    else gemm_set(C, A, B, alpha);
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < ldc; ++j) {
        const T got = c_store[std::size_t(i) * ldc + j];
        if (j >= N) {
          REQUIRE(got == c0[std::size_t(i) * ldc + j]);
          continue;
        }
        double expect = accumulate ? double(c0[std::size_t(i) * ldc + j]) : 0.0;
        for (int k = 0; k < K; ++k) expect += double(alpha) * at(A, i, k) * at(B, k, j);
        REQUIRE(std::abs(double(got) - expect) <= tol * (1 + std::abs(expect)));
      }
  }
}

}  // namespace

TEST_CASE("gemm views: set and acc match a loop for every transpose and padded leading dims",
          "[engine][gemm][views]") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("ta " << ta << " tb " << tb);
      check_case<double>(ta, tb, 5, 7, 3, 2, 1.0, 1e-12);
      check_case<double>(ta, tb, 1, 4, 9, 3, -0.5, 1e-12);
      check_case<float>(ta, tb, 13, 33, 17, 5, 0.25f, 1e-5);
    }
}

TEST_CASE("gemm views: T() swaps the shape, blocks select rows and columns as read", "[engine][gemm][views]") {
  std::vector<double> s(4 * 6);  // storage 4 x 5 with ld 6
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = double(i);
  const auto X = mat<const double>(s.data(), 4, 5, 6);
  const auto Xt = X.T();
  REQUIRE(Xt.rows == 5);
  REQUIRE(Xt.cols == 4);
  REQUIRE(Xt.transposed);
  REQUIRE_FALSE(Xt.T().transposed);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) REQUIRE(at(X, i, j) == at(Xt, j, i));
  const auto xb = X.row_block(1, 2).col_block(2, 3), xtb = Xt.row_block(2, 3).col_block(1, 2);
  REQUIRE(xb.rows == 2);
  REQUIRE(xb.cols == 3);
  REQUIRE(xtb.rows == 3);
  REQUIRE(xtb.cols == 2);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      REQUIRE(at(xb, i, j) == at(X, 1 + i, 2 + j));
      REQUIRE(at(xtb, j, i) == at(xb, i, j));
    }
  // A product of blocks: rows 1..2 of X times the transpose of columns 0..1 of X's rows 0..2.
  std::vector<double> c(2 * 3, 0.0);
  gemm_set(mat(c.data(), 2, 3), X.row_block(1, 2), X.row_block(0, 3).T());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      double expect = 0;
      for (int k = 0; k < 5; ++k) expect += at(X, 1 + i, k) * at(X, j, k);
      REQUIRE(c[std::size_t(i) * 3 + j] == Approx(expect));
    }
}

TEST_CASE("gemm views: mismatched shapes throw naming the views", "[engine][gemm][views][errors]") {
  std::vector<double> a(2 * 3), b(4 * 5), c(2 * 5), d(3 * 5);
  const auto A = mat<const double>(a.data(), 2, 3), B = mat<const double>(b.data(), 4, 5);
  const auto B35 = mat<const double>(d.data(), 3, 5);
  REQUIRE_THROWS_AS(gemm_acc(mat(c.data(), 2, 5), A, B), std::invalid_argument);
  REQUIRE_THROWS_WITH(gemm_acc(mat(c.data(), 2, 5), A, B),
                      Catch::Contains("gemm_acc") && Catch::Contains("A [2,3]") && Catch::Contains("B [4,5]") &&
                          Catch::Contains("inner dim"));
  REQUIRE_THROWS_WITH(gemm_set(mat(c.data(), 5, 2), A, B35),
                      Catch::Contains("gemm_set") && Catch::Contains("C [5,2]") && Catch::Contains("shape of A B"));
  REQUIRE_THROWS_WITH(gemm_set(mat(c.data(), 5, 2).T(), A, B35), Catch::Contains("transposed"));
  REQUIRE_THROWS_WITH(gemm_set(mat(c.data(), 2, 5), A.T().T(), mat<const double>(d.data(), 3, 5, 4)),
                      Catch::Contains("leading dimension") && Catch::Contains("(ld 4)"));
  REQUIRE_THROWS_WITH(gemm_set(mat(c.data(), 2, 5), A.T(), mat<const double>(d.data(), 2, 5)),
                      Catch::Contains("A^T [3,2]") && Catch::Contains("shape of A B"));
  std::vector<double> c35(3 * 5);
  REQUIRE_NOTHROW(gemm_set(mat(c35.data(), 3, 5), A.T(), mat<const double>(b.data(), 2, 5)));
  REQUIRE_NOTHROW(gemm_set(mat(c.data(), 2, 5), A, B35));
}
