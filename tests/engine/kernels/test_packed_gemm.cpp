#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/gemm.hpp"
#include "engine/kernels/packed_gemm.hpp"
#include "engine/kernels/thread_pool.hpp"

using namespace pf;

namespace {

struct Case {
  bool ta, tb;
  int M, N, K;
  int pad;  // extra columns in every stored row (lda/ldb/ldc larger than needed)
  float alpha, beta;
};

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// Runs packed_sgemm on one case and compares with a double-precision loop. Returns the worst
// |error| / (sum_k |a_ik b_kj| + |beta c_ij|), the scale float rounding errors grow with.
double worst_scaled_error(const Case& c, unsigned seed, std::vector<float>* out = nullptr) {
  const int a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  const auto A = random_floats(std::size_t(a_rows) * lda, seed);
  const auto B = random_floats(std::size_t(b_rows) * ldb, seed + 1);
  auto C = random_floats(std::size_t(c.M) * ldc, seed + 2);
  if (c.beta == 0.0f)  // beta = 0 must not read C: fill it with NaN
    std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
  const auto C0 = C;
  packed_sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  double worst = 0;
  for (int i = 0; i < c.M; ++i)
    for (int j = 0; j < ldc; ++j) {
      const std::size_t at = std::size_t(i) * ldc + j;
      if (j >= c.N) {  // padding columns are never written
        if (!(std::isnan(C0[at]) && std::isnan(C[at]))) REQUIRE(C[at] == C0[at]);
        continue;
      }
      double sum = 0, scale = 0;
      for (int k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[std::size_t(k) * lda + i] : A[std::size_t(i) * lda + k];
        const double b = c.tb ? B[std::size_t(j) * ldb + k] : B[std::size_t(k) * ldb + j];
        sum += a * b;
        scale += std::abs(a * b);
      }
      double expect = c.alpha * sum;
      scale = std::abs(c.alpha) * scale;
      if (c.beta != 0.0f) {
        expect += double(c.beta) * C0[at];
        scale += std::abs(double(c.beta) * C0[at]);
      }
      worst = std::max(worst, std::abs(C[at] - expect) / (scale + 1e-30));
    }
  if (out) *out = C;
  return worst;
}

}  // namespace

TEST_CASE("packed_sgemm matches a double-precision product on edge and block-crossing shapes",
          "[engine][gemm]") {
  // Sizes straddle the register tile (12 x 32 with AVX-512), the K block (256) and the M block.
  const int sizes[][3] = {{1, 1, 1},   {1, 33, 7},    {13, 1, 5},    {12, 32, 256}, {13, 33, 257},
                          {25, 65, 3}, {241, 47, 70}, {64, 33, 256}, {300, 200, 600}};
  unsigned seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& s : sizes)
        for (int pad : {0, 3})
          for (float beta : {0.0f, 1.0f, -0.5f}) {
            const Case c{ta, tb, s[0], s[1], s[2], pad, 0.75f, beta};
            INFO("ta=" << ta << " tb=" << tb << " M=" << c.M << " N=" << c.N << " K=" << c.K
                       << " pad=" << pad << " beta=" << beta);
            REQUIRE(worst_scaled_error(c, seed++) < 1e-5);
          }
}

TEST_CASE("packed_sgemm: K = 0 or alpha = 0 scales C by beta without reading A or B", "[engine][gemm]") {
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  packed_sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 2.0f, C.data(), 3);
  CHECK(C == std::vector<float>{2, 4, 6, 8, 10, 12});
  packed_sgemm(false, false, 2, 3, 4, 0.0f, nullptr, 4, nullptr, 3, 0.0f, C.data(), 3);
  CHECK(C == std::vector<float>(6, 0.0f));
}

TEST_CASE("packed_sgemm gives bit-identical results on 1 and 2 threads", "[engine][gemm][threads]") {
  const int before = num_threads();
  for (const Case c : {Case{false, false, 700, 300, 520, 0, 1.0f, 0.0f}, Case{true, true, 64, 900, 300, 1, 1.0f, 1.0f},
                       Case{false, true, 1000, 40, 100, 0, 1.0f, 0.0f}}) {
    std::vector<float> one, two;
    set_num_threads(1);
    REQUIRE(worst_scaled_error(c, 7, &one) < 1e-5);
    set_num_threads(2);
    REQUIRE(worst_scaled_error(c, 7, &two) < 1e-5);
    REQUIRE(one == two);
  }
  set_num_threads(before);
}

TEST_CASE("packed_sgemm agrees with OpenBLAS through the gemm<float> switch", "[engine][gemm]") {
  const int M = 77, N = 130, K = 300;
  const auto A = random_floats(std::size_t(M) * K, 11), B = random_floats(std::size_t(K) * N, 12);
  std::vector<float> ours(std::size_t(M) * N), blas(std::size_t(M) * N);
  const GemmBackend before = gemm_backend();
  set_gemm_backend(GemmBackend::Packed);
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, ours.data(), N);
  set_gemm_backend(GemmBackend::Blas);
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, blas.data(), N);
  set_gemm_backend(before);
  for (std::size_t i = 0; i < ours.size(); ++i) REQUIRE(ours[i] == Approx(blas[i]).margin(1e-4));
}
