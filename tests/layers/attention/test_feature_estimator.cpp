// Statistical properties of the random-feature estimators of the softmax kernel SM(x, y) =
// exp(x.y) (Performer paper, Lemma 2 and Theorem 2), measured through the feature-map ops.
// Fixed seeds and enough draws: each check compares against its own standard error.
#include <cmath>

#include "layers/attention/feature_maps.hpp"
#include "layers/attention/random_projection.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

struct Moments {
  double mean = 0, mse = 0, mean_se = 0, mse_se = 0;
};

enum class Estimator { positive, trig };

// Draws `draws` projections W [m, d] and estimates SM(x, y) with phi(x).phi(y) each time.
// All draws go through one feature-map call: W stacks them ([draws * m, d]; for orthogonal W
// with m = d each block of d rows is an independent orthogonal draw), and the estimate of draw
// k is draws * (the part of phi(x).phi(y) over block k), since the map scales by (draws m)^{-1/2}.
// The maps apply x^ = x / d^{1/4}, so the rows fed in are x d^{1/4} and y d^{1/4}.
Moments measure(const std::vector<double>& x, const std::vector<double>& y, std::size_t m, Estimator est,
                ProjectionKind kind, int draws, std::uint64_t seed) {
  const std::size_t d = x.size();
  REQUIRE((kind == ProjectionKind::iid || m == d));
  const double scale = std::pow(double(d), 0.25);
  std::vector<double> rows;
  for (double v : x) rows.push_back(v * scale);
  for (double v : y) rows.push_back(v * scale);
  const auto xy = Tensor<double>::from_vector({2, d}, rows);
  double dot = 0;
  for (std::size_t t = 0; t < d; ++t) dot += x[t] * y[t];
  const double exact = std::exp(dot);
  Rng rng(seed);
  const std::size_t total = m * std::size_t(draws);
  const Tensor<double> w(draw_projection<double>({total, d, kind, RowNorm::chi}, rng));
  const Tensor<double> phi =
      est == Estimator::positive ? positive_features(xy, w, Stabiliser::none, 0.0) : trig_features(xy, w);
  const std::size_t width = phi.size(-1), halves = width / total;  // 1 (positive) or 2 (sin, cos)
  std::vector<double> estimates, sq_errors;
  for (int k = 0; k < draws; ++k) {
    double e = 0;
    for (std::size_t h = 0; h < halves; ++h)
      for (std::size_t j = k * m; j < (k + 1) * m; ++j) e += phi.data()[h * total + j] * phi.data()[width + h * total + j];
    e *= draws;
    estimates.push_back(e);
    sq_errors.push_back((e - exact) * (e - exact));
  }
  auto mean_and_se = [](const std::vector<double>& v) {
    double mean = 0, var = 0;
    for (double a : v) mean += a / v.size();
    for (double a : v) var += (a - mean) * (a - mean) / (v.size() - 1);
    return std::pair<double, double>(mean, std::sqrt(var / v.size()));
  };
  Moments out;
  std::tie(out.mean, out.mean_se) = mean_and_se(estimates);
  std::tie(out.mse, out.mse_se) = mean_and_se(sq_errors);
  return out;
}

std::vector<double> scaled(std::vector<double> v, double s) {
  for (double& a : v) a *= s;
  return v;
}

double sq_norm(const std::vector<double>& a, const std::vector<double>& b, double sign) {
  double s = 0;
  for (std::size_t t = 0; t < a.size(); ++t) s += (a[t] + sign * b[t]) * (a[t] + sign * b[t]);
  return s;
}

const std::vector<double> kX = {0.3, -0.2, 0.4, 0.1, -0.3, 0.2};
const std::vector<double> kY = {0.2, 0.1, 0.3, -0.4, -0.1, 0.3};

}  // namespace

TEST_CASE("positive random features are unbiased for exp(x.y)", "[layers][features][estimator]") {
  for (ProjectionKind kind : {ProjectionKind::iid, ProjectionKind::orthogonal}) {
    const Moments mo = measure(kX, kY, 6, Estimator::positive, kind, 20000, 11);
    double dot = 0;
    for (std::size_t t = 0; t < kX.size(); ++t) dot += kX[t] * kY[t];
    INFO("kind " << projection_kind_name(kind) << " mean " << mo.mean << " se " << mo.mean_se);
    CHECK(std::abs(mo.mean - std::exp(dot)) < 3 * mo.mean_se);
    CHECK(mo.mean_se < 0.01 * std::exp(dot));  // the test has power
  }
}

TEST_CASE("measured MSE matches Lemma 2 for positive and trig features (iid)", "[layers][features][estimator]") {
  const std::size_t m = 4;
  const double sp = sq_norm(kX, kY, +1), sm2 = sq_norm(kX, kY, -1);
  double dot = 0;
  for (std::size_t t = 0; t < kX.size(); ++t) dot += kX[t] * kY[t];
  const double SM = std::exp(dot);
  const double mse_pos = std::exp(sp) * SM * SM * (1 - std::exp(-sp)) / m;
  const double mse_trig = std::exp(sp) / (SM * SM) * std::pow(1 - std::exp(-sm2), 2) / (2 * m);
  const Moments pos = measure(kX, kY, m, Estimator::positive, ProjectionKind::iid, 20000, 21);
  const Moments trig = measure(kX, kY, m, Estimator::trig, ProjectionKind::iid, 20000, 22);
  INFO("positive: measured " << pos.mse << " +- " << pos.mse_se << ", Lemma 2 " << mse_pos);
  INFO("trig: measured " << trig.mse << " +- " << trig.mse_se << ", Lemma 2 " << mse_trig);
  CHECK(std::abs(pos.mse - mse_pos) < 4 * pos.mse_se);
  CHECK(std::abs(trig.mse - mse_trig) < 4 * trig.mse_se);
  CHECK(pos.mse_se < 0.05 * mse_pos);
  CHECK(trig.mse_se < 0.05 * mse_trig);
}

TEST_CASE("orthogonal features have lower MSE than iid", "[layers][features][estimator]") {
  // m = d: one full orthogonal block. |x + y|^2 ~ 1.3: the gap (Theorem 2) grows with |x + y|^4,
  // but so do the tails of the squared error; here it is ~5 standard errors.
  const auto x = scaled(kX, 1.0), y = scaled(kY, 1.0);
  const Moments iid = measure(x, y, 6, Estimator::positive, ProjectionKind::iid, 100000, 31);
  const Moments ort = measure(x, y, 6, Estimator::positive, ProjectionKind::orthogonal, 100000, 32);
  INFO("iid MSE " << iid.mse << " +- " << iid.mse_se << ", orthogonal " << ort.mse << " +- " << ort.mse_se);
  CHECK(ort.mse + 3 * std::hypot(iid.mse_se, ort.mse_se) < iid.mse);
}

TEST_CASE("positive features beat trig features where the kernel is small", "[layers][features][estimator]") {
  // x.y strongly negative: SM is small; trig's error is relative to e^{|x|^2+|y|^2}, positive's
  // to SM itself. Compare relative MSE (MSE / SM^2).
  const auto x = scaled(kX, 2.0), y = scaled(kX, -2.0);
  const Moments pos = measure(x, y, 6, Estimator::positive, ProjectionKind::iid, 5000, 41);
  const Moments trig = measure(x, y, 6, Estimator::trig, ProjectionKind::iid, 5000, 42);
  INFO("positive MSE " << pos.mse << ", trig MSE " << trig.mse);
  CHECK(pos.mse * 10 < trig.mse);
}
