// The estimators behind examples/attention_error (the Performer paper's Figure 4 in small and the
// kernel-level MSE of its Lemma 2), kept apart from the program so tests can run them small.
//
// Conventions: the feature maps of layers/attention/feature_maps apply the data normaliser x^ = x / d^{1/4},
// so phi(x).phi(y) estimates the softmax kernel SM(x^, y^) = exp(x^.y^) = exp(x.y / sqrt(d)).
// Everything below is stated in the normalised vectors x^, y^.
//
// Closed forms for m independent (iid) rows of W (Lemma 2 of the paper, and the same algebra for
// the hyperbolic map, whose m rows give M = 2m features):
//   trig:       MSE = 1/(2m) exp(|x^|^2 + |y^|^2) (1 - exp(-|x^ - y^|^2))^2
//   positive:   MSE = 1/m SM^2 (exp(|x^ + y^|^2) - 1)
//   hyperbolic: MSE = 1/2 (1 - exp(-|x^ + y^|^2)) MSE(positive)
// Orthogonal rows: the paper's Theorem 2 bounds the positive estimator from above by the iid MSE
// minus (1 - 1/m) 2/(d+2) (SM - exp(-(|x^|^2 + |y^|^2)/2))^2 for one block (m <= d). With
// independent blocks, only pairs of rows in one block are coupled, so the correction scales
// with the number of such ordered pairs, sum_b b(b-1), over m^2 (for one block: (1 - 1/m)).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "engine/core/random.hpp"
#include "engine/core/tensor.hpp"
#include "layers/attention/random_projection.hpp"

namespace pf::examples {

enum class FeatureKind { positive, hyperbolic, trig };
std::string feature_kind_name(FeatureKind kind);
// "positive" / "hyperbolic" / "trig"; std::invalid_argument naming the text otherwise.
FeatureKind parse_feature_kind(const std::string& name);

// A fixed pair of raw inputs x, y in R^d (before the d^{1/4} normaliser).
struct KernelPair {
  std::string name;
  std::vector<double> x, y;
};
// The pair with |x^| = x_norm, |y^| = y_norm and cos(x^, y^) = cosine (normalised vectors), in
// the plane of the first two axes (both projection kinds are rotation invariant in law).
KernelPair make_kernel_pair(const std::string& name, std::size_t d, double x_norm, double y_norm, double cosine);

double softmax_kernel(const KernelPair& pair);  // exp(x^.y^)
// Closed-form MSE of the iid estimator with m rows (see above).
double iid_kernel_mse(FeatureKind kind, const KernelPair& pair, std::size_t m);
// The Theorem 2 upper bound for orthogonal positive features (blocks of d rows).
double orthogonal_positive_mse_bound(const KernelPair& pair, std::size_t m);

struct MseEstimate {
  double mse = 0;        // mean over draws of (estimate - exact)^2
  double std_error = 0;  // standard error of that mean
  std::size_t draws = 0;
};

// Measured MSE of phi(x).phi(y) against exp(x^.y^) for each pair, over `draws` independent
// projections W [m, d] (all pairs share each draw). Plain estimators: no stabiliser, eps = 0.
std::vector<MseEstimate> kernel_mse(FeatureKind kind, ProjectionKind projection, std::size_t m,
                                    const std::vector<KernelPair>& pairs, std::size_t draws, Rng& rng);

// Attention-level study: q, k rows of norm `input_norm` in uniformly random directions, v ~ N(0, 1).
struct AttentionInputs {
  Tensor<double> q, k, v;  // [L, d]
};
AttentionInputs random_attention_inputs(std::size_t length, std::size_t d, double input_norm, Rng& rng);
// Exact softmax attention softmax(q k^T / sqrt(d)) v, bidirectional.
Array<double> exact_attention_output(const AttentionInputs& inputs);
// Mean squared difference, over all L x d entries, between bidirectional FAVOR attention with one
// fresh projection W [m, d] and `exact`. Non-finite (a trig denominator at zero) stays non-finite.
double favor_output_mse(FeatureKind kind, ProjectionKind projection, std::size_t m, const AttentionInputs& inputs,
                        const Array<double>& exact, Rng& rng);

}  // namespace pf::examples
