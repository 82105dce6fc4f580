// Small, fast versions of examples/attention_error's claims: the measured kernel MSE matches the
// closed forms, orthogonal beats iid, positive beats trig where the paper says it does.
#include <cmath>

#include <catch2/catch.hpp>

#include "attention_error_study.hpp"

using namespace pf;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

constexpr std::size_t kDim = 16;
const KernelPair kTypical = make_kernel_pair("typical", kDim, 0.5, 0.5, 0.0);
const KernelPair kSmallKernel = make_kernel_pair("small-kernel", kDim, 1.0, 1.0, -0.8);

}  // namespace

TEST_CASE("attention error study: kernel pairs have the requested normalised geometry", "[attention_error]") {
  // x^.y^ = 1 * 1 * -0.8, so SM = exp(-0.8).
  REQUIRE(softmax_kernel(kSmallKernel) == Approx(std::exp(-0.8)));
  REQUIRE(softmax_kernel(kTypical) == Approx(1.0));
  REQUIRE_THROWS_WITH(make_kernel_pair("bad", kDim, 1, 1, 1.5), Contains("cosine 1.5"));
  REQUIRE_THROWS_WITH(parse_feature_kind("cosine"), Contains("'cosine'"));
  // Hyperbolic never worse than positive; the orthogonal bound is below the iid value.
  REQUIRE(iid_kernel_mse(FeatureKind::hyperbolic, kTypical, 64) < iid_kernel_mse(FeatureKind::positive, kTypical, 64));
  REQUIRE(orthogonal_positive_mse_bound(kTypical, 64) < iid_kernel_mse(FeatureKind::positive, kTypical, 64));
}

TEST_CASE("attention error study: measured iid kernel MSE matches the Lemma 2 closed forms", "[attention_error]") {
  Rng rng(11);
  const std::size_t m = 64, draws = 3000;  // standard error ~ sqrt(2 / 3000) ~ 3%
  for (FeatureKind kind : {FeatureKind::positive, FeatureKind::hyperbolic, FeatureKind::trig}) {
    const auto measured = kernel_mse(kind, ProjectionKind::iid, m, {kTypical, kSmallKernel}, draws, rng);
    for (std::size_t p = 0; p < 2; ++p) {
      const KernelPair& pair = p == 0 ? kTypical : kSmallKernel;
      INFO(feature_kind_name(kind) << " pair " << pair.name << ": measured " << measured[p].mse << " +- "
                                   << measured[p].std_error << ", closed form " << iid_kernel_mse(kind, pair, m));
      REQUIRE(measured[p].mse == Approx(iid_kernel_mse(kind, pair, m)).epsilon(0.15));
    }
  }
}

TEST_CASE("attention error study: orthogonal positive features beat iid and stay below the Theorem 2 bound",
          "[attention_error]") {
  Rng rng(12);
  const std::size_t m = 32, draws = 3000;
  const auto iid = kernel_mse(FeatureKind::positive, ProjectionKind::iid, m, {kTypical}, draws, rng);
  const auto ort = kernel_mse(FeatureKind::positive, ProjectionKind::orthogonal, m, {kTypical}, draws, rng);
  INFO("iid " << iid[0].mse << " orthogonal " << ort[0].mse << " bound " << orthogonal_positive_mse_bound(kTypical, m));
  REQUIRE(ort[0].mse < 0.95 * iid[0].mse);
  REQUIRE(ort[0].mse < orthogonal_positive_mse_bound(kTypical, m) + 3 * ort[0].std_error);
}

TEST_CASE("attention error study: positive features beat trig where the kernel value is small", "[attention_error]") {
  Rng rng(13);
  const auto positive = kernel_mse(FeatureKind::positive, ProjectionKind::iid, 64, {kSmallKernel}, 500, rng);
  const auto trig = kernel_mse(FeatureKind::trig, ProjectionKind::iid, 64, {kSmallKernel}, 500, rng);
  REQUIRE(positive[0].mse * 10 < trig[0].mse);
}

TEST_CASE("attention error study: FAVOR attention output errors order as in the paper", "[attention_error]") {
  Rng rng(14);
  const std::size_t length = 256, m = 32, samples = 3;
  auto mean_mse = [&](FeatureKind kind, ProjectionKind projection, double norm) {
    Rng inputs_rng(99);  // the same inputs for every variant
    double sum = 0;
    for (std::size_t s = 0; s < samples; ++s) {
      const AttentionInputs inputs = random_attention_inputs(length, kDim, norm, inputs_rng);
      sum += favor_output_mse(kind, projection, m, inputs, exact_attention_output(inputs), rng);
    }
    return sum / double(samples);
  };
  // Small inputs: orthogonal well below iid (hyperbolic and trig: ~5-10x in the full study).
  for (FeatureKind kind : {FeatureKind::hyperbolic, FeatureKind::trig}) {
    INFO(feature_kind_name(kind));
    REQUIRE(2 * mean_mse(kind, ProjectionKind::orthogonal, 1.0) < mean_mse(kind, ProjectionKind::iid, 1.0));
  }
  // Inputs of norm sqrt(d): trig denominators come near zero, positive features stay accurate.
  for (ProjectionKind projection : {ProjectionKind::orthogonal, ProjectionKind::iid}) {
    INFO(projection_kind_name(projection));
    REQUIRE(10 * mean_mse(FeatureKind::positive, projection, 4.0) < mean_mse(FeatureKind::trig, projection, 4.0));
  }
  REQUIRE_THROWS_WITH(random_attention_inputs(0, kDim, 1.0, rng), Contains("L = 0"));
}
