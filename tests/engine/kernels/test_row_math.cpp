#include <cmath>
#include <limits>
#include <vector>

#include "engine/kernels/row_math.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("row kernels: sum, dot, max and min match plain loops for every tail length", "[engine][row_math]") {
  Rng rng(1);
  for (std::size_t n = 0; n <= 40; ++n) {
    INFO("n = " << n);
    std::vector<double> a(n), b(n);
    for (auto& v : a) v = rng.normal();
    for (auto& v : b) v = rng.normal();
    double sum = 0, dot = 0, mx = -std::numeric_limits<double>::infinity(), mn = -mx;
    for (std::size_t i = 0; i < n; ++i) {
      sum += a[i];
      dot += a[i] * b[i];
      mx = std::max(mx, a[i]);
      mn = std::min(mn, a[i]);
    }
    CHECK(detail::row_sum(a.data(), n) == Approx(sum).margin(1e-14));
    CHECK(detail::row_dot(a.data(), b.data(), n) == Approx(dot).margin(1e-14));
    CHECK(detail::row_max(a.data(), n) == mx);
    CHECK(detail::row_min(a.data(), n) == mn);
    const std::vector<float> f(a.begin(), a.end());  // 16 float lanes: the batch loop from n = 16
    CHECK(detail::row_max(f.data(), n) == float(mx));
    CHECK(detail::row_min(f.data(), n) == float(mn));
  }
}

TEST_CASE("row exp is accurate on x <= 0 and handles the edges", "[engine][row_math][numerics]") {
  std::vector<float> x;
  for (float v = -87.0f; v <= 0.0f; v += 0.0137f) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(-0.0f);
  x.push_back(-1e-30f);
  std::vector<float> y = x;
  detail::exp_inplace(y.data(), y.size());
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(double(x[i]));
    worst = std::max(worst, std::abs(double(y[i]) - want) / want);
  }
  CHECK(worst < 3e-7);
  std::vector<double> xd{-700.0, -20.5, -1.0, -1e-12, 0.0};
  std::vector<double> yd = xd;
  detail::exp_inplace(yd.data(), yd.size());
  for (std::size_t i = 0; i < xd.size(); ++i) CHECK(yd[i] == Approx(std::exp(xd[i])).epsilon(1e-15));
  std::vector<float> edge{-std::numeric_limits<float>::infinity(), -100.0f, -1e9f,
                          std::numeric_limits<float>::quiet_NaN(), 0.0f};
  detail::exp_inplace(edge.data(), edge.size());
  CHECK(edge[0] == 0.0f);
  CHECK(edge[1] < 1e-38f);  // exp(-100) is below the normal float range: 0 or subnormal
  CHECK(edge[2] == 0.0f);
  CHECK(std::isnan(edge[3]));
  CHECK(edge[4] == 1.0f);
}
