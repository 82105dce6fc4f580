#include "attention_error_study.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "layers/attention/exact_attention.hpp"
#include "layers/attention/favor_attention.hpp"
#include "layers/attention/feature_maps.hpp"

namespace pf::examples {

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The normalised vector x^ = x / d^{1/4}.
std::vector<double> normalised(const std::vector<double>& x) {
  const double scale = std::pow(double(x.size()), -0.25);
  std::vector<double> out(x);
  for (double& v : out) v *= scale;
  return out;
}

struct PairGeometry {
  double xx, yy, xy;  // |x^|^2, |y^|^2, x^.y^
};
PairGeometry geometry(const KernelPair& pair) {
  if (pair.x.size() != pair.y.size() || pair.x.empty())
    throw std::invalid_argument(fmt::format("kernel pair '{}': x has {} values, y has {} (need equal, > 0)", pair.name,
                                            pair.x.size(), pair.y.size()));
  const auto x = normalised(pair.x), y = normalised(pair.y);
  return {dot(x, x), dot(y, y), dot(x, y)};
}

Tensor<double> features(FeatureKind kind, const Tensor<double>& x, const Tensor<double>& w, Stabiliser stabiliser) {
  switch (kind) {
    case FeatureKind::positive: return positive_features(x, w, stabiliser, 0.0);
    case FeatureKind::hyperbolic: return hyperbolic_features(x, w, stabiliser, 0.0);
    case FeatureKind::trig: return trig_features(x, w);
  }
  throw std::logic_error("unknown feature kind");
}

}  // namespace

std::string feature_kind_name(FeatureKind kind) {
  switch (kind) {
    case FeatureKind::positive: return "positive";
    case FeatureKind::hyperbolic: return "hyperbolic";
    case FeatureKind::trig: return "trig";
  }
  return "?";
}

FeatureKind parse_feature_kind(const std::string& name) {
  if (name == "positive") return FeatureKind::positive;
  if (name == "hyperbolic") return FeatureKind::hyperbolic;
  if (name == "trig") return FeatureKind::trig;
  throw std::invalid_argument(fmt::format("unknown feature kind '{}' (positive, hyperbolic, trig)", name));
}

KernelPair make_kernel_pair(const std::string& name, std::size_t d, double x_norm, double y_norm, double cosine) {
  if (d < 2) throw std::invalid_argument(fmt::format("kernel pair '{}': d = {} (need >= 2)", name, d));
  if (!(cosine >= -1 && cosine <= 1))
    throw std::invalid_argument(fmt::format("kernel pair '{}': cosine {} outside [-1, 1]", name, cosine));
  const double raw = std::pow(double(d), 0.25);  // undo the normaliser the feature maps apply
  KernelPair pair{name, std::vector<double>(d, 0.0), std::vector<double>(d, 0.0)};
  pair.x[0] = raw * x_norm;
  pair.y[0] = raw * y_norm * cosine;
  pair.y[1] = raw * y_norm * std::sqrt(std::max(0.0, 1 - cosine * cosine));
  return pair;
}

double softmax_kernel(const KernelPair& pair) { return std::exp(geometry(pair).xy); }

double iid_kernel_mse(FeatureKind kind, const KernelPair& pair, std::size_t m) {
  const PairGeometry g = geometry(pair);
  const double sum_sq = g.xx + g.yy + 2 * g.xy, diff_sq = g.xx + g.yy - 2 * g.xy;  // |x+y|^2, |x-y|^2
  const double sm = std::exp(g.xy);
  const double positive = sm * sm * std::expm1(sum_sq) / double(m);
  switch (kind) {
    case FeatureKind::positive: return positive;
    case FeatureKind::hyperbolic: return 0.5 * -std::expm1(-sum_sq) * positive;
    case FeatureKind::trig: {
      const double c = -std::expm1(-diff_sq);
      return std::exp(g.xx + g.yy) * c * c / (2.0 * double(m));
    }
  }
  throw std::logic_error("unknown feature kind");
}

double orthogonal_positive_mse_bound(const KernelPair& pair, std::size_t m) {
  const PairGeometry g = geometry(pair);
  const std::size_t d = pair.x.size();
  // Ordered pairs of distinct rows inside one orthogonal block (draw_orthogonal_projection stacks
  // full blocks of d rows and one block of m mod d).
  const double full = double(m / d), rest = double(m % d), dd = double(d);
  const double coupled_pairs = full * dd * (dd - 1) + rest * (rest - 1);
  const double gap = std::exp(g.xy) - std::exp(-(g.xx + g.yy) / 2);
  return iid_kernel_mse(FeatureKind::positive, pair, m) -
         coupled_pairs / (double(m) * double(m)) * 2.0 / (dd + 2) * gap * gap;
}

std::vector<MseEstimate> kernel_mse(FeatureKind kind, ProjectionKind projection, std::size_t m,
                                    const std::vector<KernelPair>& pairs, std::size_t draws, Rng& rng) {
  if (pairs.empty() || draws < 2 || m == 0)
    throw std::invalid_argument(fmt::format("kernel_mse: {} pairs, {} draws, m = {} (need >= 1, >= 2, >= 1)",
                                            pairs.size(), draws, m));
  const std::size_t d = pairs[0].x.size();
  // All pair points as rows of one [2P, d] input, so each draw is one feature-map call.
  Array<double> points = empty_array<double>({2 * pairs.size(), d});
  std::vector<double> exact;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    geometry(pairs[p]);  // validates
    if (pairs[p].x.size() != d)
      throw std::invalid_argument(fmt::format("kernel_mse: pair '{}' has d = {}, the first pair d = {}",
                                              pairs[p].name, pairs[p].x.size(), d));
    std::copy(pairs[p].x.begin(), pairs[p].x.end(), points.data() + (2 * p) * d);
    std::copy(pairs[p].y.begin(), pairs[p].y.end(), points.data() + (2 * p + 1) * d);
    exact.push_back(softmax_kernel(pairs[p]));
  }
  const Tensor<double> x(points);
  NoGradGuard no_grad;
  std::vector<double> sum(pairs.size(), 0.0), sum_sq(pairs.size(), 0.0);
  const ProjectionSpec spec{m, d, projection, RowNorm::chi};
  for (std::size_t draw = 0; draw < draws; ++draw) {
    const Tensor<double> w(draw_projection<double>(spec, rng));
    const Tensor<double> phi = features(kind, x, w, Stabiliser::none);
    const std::size_t width = phi.shape()[1];
    for (std::size_t p = 0; p < pairs.size(); ++p) {
      const double* a = phi.data() + (2 * p) * width;
      const double* b = phi.data() + (2 * p + 1) * width;
      double estimate = 0;
      for (std::size_t j = 0; j < width; ++j) estimate += a[j] * b[j];
      const double e2 = (estimate - exact[p]) * (estimate - exact[p]);
      sum[p] += e2, sum_sq[p] += e2 * e2;
    }
  }
  std::vector<MseEstimate> out;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    const double n = double(draws), mean = sum[p] / n;
    const double variance = std::max(0.0, (sum_sq[p] - n * mean * mean) / (n - 1));
    out.push_back({mean, std::sqrt(variance / n), draws});
  }
  return out;
}

AttentionInputs random_attention_inputs(std::size_t length, std::size_t d, double input_norm, Rng& rng) {
  if (length == 0 || d == 0 || !(input_norm > 0))
    throw std::invalid_argument(
        fmt::format("attention inputs: L = {}, d = {}, input norm = {} (need > 0 each)", length, d, input_norm));
  auto rows_of_norm = [&]() {
    Array<double> a = randn_array<double>({length, d}, rng);
    for (std::size_t i = 0; i < length; ++i) {
      double* row = a.data() + i * d;
      double norm = 0;
      for (std::size_t j = 0; j < d; ++j) norm += row[j] * row[j];
      const double scale = input_norm / std::sqrt(norm);
      for (std::size_t j = 0; j < d; ++j) row[j] *= scale;
    }
    return Tensor<double>(std::move(a));
  };
  AttentionInputs inputs;
  inputs.q = rows_of_norm();
  inputs.k = rows_of_norm();
  inputs.v = Tensor<double>(randn_array<double>({length, d}, rng));
  return inputs;
}

Array<double> exact_attention_output(const AttentionInputs& inputs) {
  NoGradGuard no_grad;
  return exact_attention(inputs.q, inputs.k, inputs.v, false).value();
}

double favor_output_mse(FeatureKind kind, ProjectionKind projection, std::size_t m, const AttentionInputs& inputs,
                        const Array<double>& exact, Rng& rng) {
  NoGradGuard no_grad;
  const std::size_t d = inputs.q.shape()[1];
  const Tensor<double> w(draw_projection<double>({m, d, projection, RowNorm::chi}, rng));
  // Stabilisers cancel between numerator and denominator; they keep exp() in range.
  const Tensor<double> q = features(kind, inputs.q, w, Stabiliser::row_max);
  const Tensor<double> k = features(kind, inputs.k, w, Stabiliser::slice_max);
  const Array<double>& out = favor_bidirectional(q, k, inputs.v).value();
  if (out.size() != exact.size())
    throw std::invalid_argument(fmt::format("favor_output_mse: exact output has {} values, FAVOR output {}",
                                            exact.size(), out.size()));
  double sum = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double e = out.data()[i] - exact.data()[i];
    sum += e * e;
  }
  return sum / double(out.size());
}

}  // namespace pf::examples
