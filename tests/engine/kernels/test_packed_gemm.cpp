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

using SgemmFn = void (*)(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int);
void packed_without_bias(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                         int ldb, float beta, float* C, int ldc) {
  packed_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Runs `product` (packed_sgemm unless given) on one case and compares with a double-precision loop. Returns the worst
// |error| / (sum_k |a_ik b_kj| + |beta c_ij|), the scale float rounding errors grow with.
double worst_scaled_error(const Case& c, unsigned seed, std::vector<float>* out = nullptr,
                          SgemmFn product = packed_without_bias) {
  const int a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  const auto A = random_floats(std::size_t(a_rows) * lda, seed);
  const auto B = random_floats(std::size_t(b_rows) * ldb, seed + 1);
  auto C = random_floats(std::size_t(c.M) * ldc, seed + 2);
  if (c.beta == 0.0f)  // beta = 0 must not read C: fill it with NaN
    std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
  const auto C0 = C;
  product(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
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
  // Sizes straddle the register tile (12 x 32 with AVX-512), the K blocks (K cut into equal
  // blocks of at most 384: 385 = 193 + 192, 769 = 3 x 257), the row blocks
  // (96 rows read in place, 192 rows of a packed transposed A) and the column block (768).
  const int sizes[][3] = {{1, 1, 1},      {1, 33, 7},    {13, 1, 5},     {12, 32, 256}, {13, 33, 257},
                          {25, 65, 3},    {241, 47, 70}, {64, 33, 256},  {300, 200, 600}, {97, 769, 385},
                          {193, 70, 769}, {5, 1600, 40}, {200, 17, 384}};
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

TEST_CASE("gemm<float> on the packed backend, small_gemm for small products included, matches float64",
          "[engine][gemm]") {
  // gemm<float> sends small products with op(B) = B, alpha 1 and beta 0 or 1 to small_gemm, the
  // rest to packed_sgemm: every flag combination on shapes on both sides of the size limits
  // (M N K = 2^19, and 1.9e6 for at most 32 rows), with padded rows, NaN in C for beta = 0.
  const GemmBackend before = gemm_backend();
  set_gemm_backend(GemmBackend::Packed);
  const int sizes[][3] = {{1, 1, 1},   {1, 33, 7},   {13, 1, 5},   {32, 33, 64},  {64, 33, 32},  {6, 1024, 256},
                          {32, 64, 2048}, {32, 64, 900}, {33, 64, 256}, {128, 64, 64}, {129, 64, 64}, {25, 65, 3},   {241, 47, 70}};
  unsigned seed = 100;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& s : sizes)
        for (int pad : {0, 3})
          for (float alpha : {1.0f, 0.75f})
            for (float beta : {0.0f, 1.0f, -0.5f}) {
              const Case c{ta, tb, s[0], s[1], s[2], pad, alpha, beta};
              INFO("ta=" << ta << " tb=" << tb << " M=" << c.M << " N=" << c.N << " K=" << c.K << " pad=" << pad
                         << " alpha=" << alpha << " beta=" << beta);
              REQUIRE(worst_scaled_error(c, seed++, nullptr, gemm<float>) < 1e-5);
            }
  set_gemm_backend(before);
}

TEST_CASE("packed_sgemm: K = 0 or alpha = 0 scales C by beta without reading A or B", "[engine][gemm]") {
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  packed_sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 2.0f, C.data(), 3);
  CHECK(C == std::vector<float>{2, 4, 6, 8, 10, 12});
  packed_sgemm(false, false, 2, 3, 4, 0.0f, nullptr, 4, nullptr, 3, 0.0f, C.data(), 3);
  CHECK(C == std::vector<float>(6, 0.0f));
}

TEST_CASE("packed_sgemm gives bit-identical results on 1, 2 and 3 threads", "[engine][gemm][threads]") {
  // Each shape makes the work split choose differently: rows only, columns only, a packed
  // transposed A, ragged tiles at the split, several K and column blocks; the sum over k of every
  // element must still run in one order.
  const int before = num_threads();
  for (const Case c : {Case{false, false, 700, 300, 520, 0, 1.0f, 0.0f}, Case{true, true, 64, 900, 300, 1, 1.0f, 1.0f},
                       Case{false, true, 1000, 40, 100, 0, 1.0f, 0.0f}, Case{false, false, 256, 256, 256, 0, 1.0f, 0.0f},
                       Case{true, false, 301, 800, 400, 2, 0.5f, -1.0f}, Case{false, false, 37, 1601, 800, 3, 2.0f, 0.5f},
                       Case{true, true, 500, 130, 1000, 0, 1.0f, 1.0f}, Case{false, false, 12, 64, 3000, 0, 1.0f, 0.0f},
                       Case{false, true, 1, 1, 2100000, 0, 1.0f, 0.0f}, Case{true, false, 25, 2000, 90, 0, 1.0f, 0.0f}}) {
    INFO("ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N << " K=" << c.K);
    std::vector<float> one, other;
    set_num_threads(1);
    REQUIRE(worst_scaled_error(c, 7, &one) < 1e-5);
    for (int threads : {2, 3}) {
      set_num_threads(threads);
      REQUIRE(worst_scaled_error(c, 7, &other) < 1e-5);
      REQUIRE(one == other);
    }
  }
  set_num_threads(before);
}

TEST_CASE("packed_sgemm agrees with OpenBLAS through the gemm<float> switch", "[engine][gemm]") {
  const GemmBackend before = gemm_backend();
  const int shapes[][3] = {{77, 130, 300}, {1, 769, 385}, {193, 33, 769}, {400, 64, 64}};
  for (const auto& s : shapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const int M = s[0], N = s[1], K = s[2];
        INFO("ta=" << ta << " tb=" << tb << " M=" << M << " N=" << N << " K=" << K);
        const int lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2;
        const auto A = random_floats(std::size_t(ta ? K : M) * lda, 11);
        const auto B = random_floats(std::size_t(tb ? N : K) * ldb, 12);
        const auto C0 = random_floats(std::size_t(M) * N, 13);
        std::vector<float> ours = C0, blas = C0;
        set_gemm_backend(GemmBackend::Packed);
        gemm<float>(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, -1.0f, ours.data(), N);
        set_gemm_backend(GemmBackend::Blas);
        gemm<float>(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, -1.0f, blas.data(), N);
        // float sums of K products of unit normals: errors of about sqrt(K) * 1e-7 relative to sqrt(K)
        for (std::size_t i = 0; i < ours.size(); ++i) REQUIRE(ours[i] == Approx(blas[i]).margin(2e-4 * std::sqrt(K)));
      }
  set_gemm_backend(before);
}

// The bias epilogue must give exactly the product followed by a row add (the order affine's
// values are defined by), on full and edge tiles, across K blocks (K > 384 is summed in blocks:
// the bias goes in after the last), with beta != 0, on 1 to 3 threads.
TEST_CASE("packed_sgemm with a bias equals the product followed by a row add, bit for bit", "[engine][gemm]") {
  const int saved = num_threads();
  const struct { bool ta, tb; int M, N, K; float beta; } cases[] = {
      {false, true, 4096 / 8, 512, 128, 0.0f}, {false, true, 37, 65, 1000, 0.0f}, {true, false, 29, 33, 7, 1.0f},
      {false, false, 12, 32, 384, 0.5f},       {false, true, 1, 1, 1, 0.0f},      {false, false, 100, 17, 0, 2.0f}};
  unsigned seed = 11;
  for (const auto& c : cases)
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      const auto A = random_floats(std::size_t(std::max(c.M, 1)) * std::max(c.K, 1), seed);
      const auto B = random_floats(std::size_t(std::max(c.N, 1)) * std::max(c.K, 1), seed + 1);
      const auto bias = random_floats(std::size_t(c.N), seed + 2);
      auto C = random_floats(std::size_t(c.M) * c.N, seed + 3);
      auto expect = C;
      const int lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      packed_sgemm(c.ta, c.tb, c.M, c.N, c.K, 1.0f, A.data(), std::max(lda, 1), B.data(), std::max(ldb, 1), c.beta,
                   expect.data(), c.N);
      for (int i = 0; i < c.M; ++i)
        for (int j = 0; j < c.N; ++j) expect[std::size_t(i) * c.N + j] += bias[j];
      packed_sgemm(c.ta, c.tb, c.M, c.N, c.K, 1.0f, A.data(), std::max(lda, 1), B.data(), std::max(ldb, 1), c.beta,
                   C.data(), c.N, bias.data());
      INFO("M " << c.M << " N " << c.N << " K " << c.K << " beta " << c.beta << " threads " << threads);
      REQUIRE(C == expect);
      seed += 5;
    }
  set_num_threads(saved);
}

TEST_CASE("gemm_plus_bias adds the bias after the product on either backend and in double", "[engine][gemm]") {
  const int M = 50, N = 70, K = 40;
  const auto A = random_floats(std::size_t(M) * K, 3), B = random_floats(std::size_t(K) * N, 4);
  const auto bias = random_floats(std::size_t(N), 5);
  for (const GemmBackend backend : {GemmBackend::Packed, GemmBackend::Blas}) {
    set_gemm_backend(backend);
    std::vector<float> C(std::size_t(M) * N, std::numeric_limits<float>::quiet_NaN()), expect(C.size());
    gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, expect.data(), N);
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) expect[std::size_t(i) * N + j] += bias[j];
    gemm_plus_bias<float>(false, false, M, N, K, A.data(), K, B.data(), N, bias.data(), C.data(), N);
    REQUIRE(C == expect);
  }
  set_gemm_backend(GemmBackend::Packed);
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), bd(bias.begin(), bias.end());
  std::vector<double> Cd(std::size_t(M) * N), expect_d(Cd.size());
  gemm<double>(false, false, M, N, K, 1.0, Ad.data(), K, Bd.data(), N, 0.0, expect_d.data(), N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) expect_d[std::size_t(i) * N + j] += bd[j];
  gemm_plus_bias<double>(false, false, M, N, K, Ad.data(), K, Bd.data(), N, bd.data(), Cd.data(), N);
  REQUIRE(Cd == expect_d);
}
