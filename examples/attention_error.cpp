// Approximation error of FAVOR attention (the Performer paper's Figure 4 in small) and of its
// softmax-kernel estimators against the closed forms of Lemma 2.
//
//   ./build/examples/attention_error --out docs/attention_error.jsonl --plot docs/attention_error.svg
//
// Attention study, per --input-norms value: per sample, fresh random q, k (rows of that norm) and v ~ N(0, 1) of
// L x d, and one fresh projection W [m, d] per kernel and projection kind; MSE of the
// bidirectional FAVOR output against exact softmax attention, mean and standard deviation over
// the samples (the paper's error bars).
// Kernel study: fixed pairs (x^, y^) (normalised vectors, see attention_error_study.hpp); MSE of
// phi(x).phi(y) against exp(x^.y^) over --kernel-draws independent projections, with its
// standard error, next to the iid closed forms and the orthogonal positive upper bound.
// One JSON object per line on stdout (and in --out); the plot in --plot.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "attention_error_study.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/core/memory.hpp"
#include "json_lines_tee.hpp"
#include "svg_plot.hpp"

using namespace pf;
using namespace pf::examples;

namespace {

struct Options {
  std::size_t length = 4096, dim = 16, samples = 15;
  std::vector<std::size_t> features{16, 32, 64, 128, 256};
  std::vector<double> input_norms{1.0, 4.0};
  std::size_t kernel_draws = 10000;
  std::uint64_t seed = 1;
  int threads = 2;
  std::string out, plot;
};

const FeatureKind kKinds[] = {FeatureKind::positive, FeatureKind::hyperbolic, FeatureKind::trig};
const ProjectionKind kProjections[] = {ProjectionKind::orthogonal, ProjectionKind::iid};

// One colour per (kernel, projection): a dark shade for iid, a light one for orthogonal.
std::string colour(FeatureKind kind, ProjectionKind projection) {
  const bool iid = projection == ProjectionKind::iid;
  switch (kind) {
    case FeatureKind::positive: return iid ? "#0072B2" : "#56B4E9";
    case FeatureKind::hyperbolic: return iid ? "#007755" : "#66CC99";
    case FeatureKind::trig: return iid ? "#D55E00" : "#E69F00";
  }
  return "#000000";
}

std::string series_name(FeatureKind kind, ProjectionKind projection) {
  return feature_kind_name(kind) + " " + projection_kind_name(projection);
}

// JSON numbers: non-finite values become null (JSON has no inf/nan).
std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

using JsonLines = pf::examples::JsonLinesTee;

PlotPanel attention_study(const Options& o, double input_norm, JsonLines& json) {
  PlotPanel panel{fmt::format("attention output vs exact, |q| = |k| = {} (L={}, d={}, {} samples)", input_norm,
                              o.length, o.dim, o.samples),
                  {"random features m", AxisScale::log},
                  {"MSE of the attention output", AxisScale::log},
                  {}};
  Rng rng(o.seed);
  // Inputs and exact outputs once per sample, shared by every variant (paired comparison).
  std::vector<AttentionInputs> inputs;
  std::vector<Array<double>> exact;
  for (std::size_t s = 0; s < o.samples; ++s) {
    inputs.push_back(random_attention_inputs(o.length, o.dim, input_norm, rng));
    exact.push_back(exact_attention_output(inputs.back()));
  }
  for (FeatureKind kind : kKinds)
    for (ProjectionKind projection : kProjections) {
      PlotSeries series{series_name(kind, projection), {}, {}, {}, true, true, false, colour(kind, projection)};
      for (std::size_t m : o.features) {
        std::vector<double> mse;
        for (std::size_t s = 0; s < o.samples; ++s)
          mse.push_back(favor_output_mse(kind, projection, m, inputs[s], exact[s], rng));
        double mean = 0, var = 0;
        for (double v : mse) mean += v / double(mse.size());
        for (double v : mse) var += (v - mean) * (v - mean) / double(mse.size() > 1 ? mse.size() - 1 : 1);
        json.emit(fmt::format(
            "{{\"study\":\"attention\",\"kernel\":\"{}\",\"projection\":\"{}\",\"m\":{},\"features\":{},\"L\":{},"
            "\"d\":{},\"input_norm\":{},\"samples\":{},\"mse\":{},\"mse_std\":{}}}",
            feature_kind_name(kind), projection_kind_name(projection), m, kind == FeatureKind::positive ? m : 2 * m,
            o.length, o.dim, input_norm, o.samples, number(mean), number(std::sqrt(var))));
        if (std::isfinite(mean) && mean > 0) {
          series.x.push_back(double(m)), series.y.push_back(mean);
          series.y_error.push_back(std::isfinite(var) ? std::sqrt(var) : 0.0);
        }
      }
      panel.series.push_back(series);
    }
  return panel;
}

// The kernel study for each pair; returns one panel per pair. Prints a check line per pair and
// kernel at the largest m: measured iid MSE against its closed form.
std::vector<PlotPanel> kernel_study(const Options& o, const std::vector<KernelPair>& pairs, JsonLines& json) {
  std::vector<PlotPanel> panels;
  for (const KernelPair& pair : pairs)
    panels.push_back({fmt::format("kernel exp(x.y), pair '{}' (SM = {:.3g}), {} draws", pair.name,
                                  softmax_kernel(pair), o.kernel_draws),
                      {"random features m", AxisScale::log},
                      {"MSE of the kernel estimate", AxisScale::log},
                      {}});
  Rng rng(o.seed + 1000);
  for (FeatureKind kind : kKinds)
    for (ProjectionKind projection : kProjections) {
      std::vector<PlotSeries> measured(pairs.size()), closed(pairs.size());
      for (std::size_t p = 0; p < pairs.size(); ++p) {
        measured[p] = {series_name(kind, projection), {}, {}, {}, false, true, false, colour(kind, projection)};
        const bool iid = projection == ProjectionKind::iid;
        closed[p] = {iid ? feature_kind_name(kind) + " iid closed form" : "positive orthogonal bound (Thm 2)",
                     {}, {}, {}, true, false, true, colour(kind, projection)};
      }
      for (std::size_t m : o.features) {
        const auto estimates = kernel_mse(kind, projection, m, pairs, o.kernel_draws, rng);
        for (std::size_t p = 0; p < pairs.size(); ++p) {
          const KernelPair& pair = pairs[p];
          double closed_form = NAN;
          std::string closed_kind;
          if (projection == ProjectionKind::iid) closed_form = iid_kernel_mse(kind, pair, m), closed_kind = "exact";
          else if (kind == FeatureKind::positive)
            closed_form = orthogonal_positive_mse_bound(pair, m), closed_kind = "upper_bound";
          std::string extra;
          if (!closed_kind.empty())
            extra = fmt::format(",\"closed_form\":{},\"closed_form_kind\":\"{}\",\"ratio_to_closed_form\":{}",
                                number(closed_form), closed_kind, number(estimates[p].mse / closed_form));
          json.emit(fmt::format(
              "{{\"study\":\"kernel\",\"pair\":\"{}\",\"kernel_value\":{},\"kernel\":\"{}\",\"projection\":\"{}\","
              "\"m\":{},\"d\":{},\"draws\":{},\"mse\":{},\"mse_std\":{}{}}}",
              pair.name, number(softmax_kernel(pair)), feature_kind_name(kind), projection_kind_name(projection), m,
              o.dim, estimates[p].draws, number(estimates[p].mse), number(estimates[p].std_error), extra));
          if (estimates[p].mse > 0) {
            measured[p].x.push_back(double(m)), measured[p].y.push_back(estimates[p].mse);
            measured[p].y_error.push_back(estimates[p].std_error);
          }
          if (!closed_kind.empty() && closed_form > 0) closed[p].x.push_back(double(m)), closed[p].y.push_back(closed_form);
          if (m == o.features.back() && closed_kind == "exact")
            fmt::print(stderr, "check: pair '{}' {} iid m={}: measured/closed = {:.3f} (+- {:.3f}) {}\n", pair.name,
                       feature_kind_name(kind), m, estimates[p].mse / closed_form, estimates[p].std_error / closed_form,
                       std::abs(estimates[p].mse / closed_form - 1) <= 0.1 ? "within 10%" : "OUTSIDE 10%");
        }
      }
      for (std::size_t p = 0; p < pairs.size(); ++p) {
        panels[p].series.push_back(measured[p]);
        if (!closed[p].x.empty()) panels[p].series.push_back(closed[p]);
      }
    }
  return panels;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"FAVOR approximation error: attention output MSE vs exact softmax attention, and softmax-kernel "
               "estimator MSE vs the closed forms (JSON lines, SVG plot)"};
  app.add_option("--length", o.length, "sequence length L of the attention study")->capture_default_str();
  app.add_option("--dim", o.dim, "head width d")->capture_default_str();
  app.add_option("--samples", o.samples, "random inputs per point of the attention study")->capture_default_str();
  app.add_option("--features", o.features, "numbers of random features m (comma separated)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--input-norms", o.input_norms,
                 "norms of the query and key rows (before the d^(1/4) normaliser), one attention panel each; "
                 "sqrt(d) is the typical norm of N(0, I) rows")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--kernel-draws", o.kernel_draws, "independent projections per point of the kernel study")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--threads", o.threads, "threads (engine thread pool and OpenBLAS)")->capture_default_str();
  app.add_option("--out", o.out, "also write the JSON lines to this file");
  app.add_option("--plot", o.plot, "write the SVG plot to this file");
  CLI11_PARSE(app, argc, argv);
  try {
    for (double norm : o.input_norms)
      if (!(norm > 0)) throw std::invalid_argument(fmt::format("--input-norms: {} is not > 0", norm));
    if (o.features.empty()) throw std::invalid_argument("--features: need at least one m");
    for (std::size_t m : o.features)
      if (m == 0) throw std::invalid_argument("--features: m = 0");
    if (o.dim < 2 || o.length == 0 || o.samples == 0 || o.kernel_draws < 2)
      throw std::invalid_argument(fmt::format("need --dim >= 2, --length >= 1, --samples >= 1, --kernel-draws >= 2 "
                                              "(got {}, {}, {}, {})",
                                              o.dim, o.length, o.samples, o.kernel_draws));
    set_num_threads(o.threads);
    tune_malloc_for_reuse();
    JsonLines json(o.out);
    // Pairs of normalised vectors: a typical one, one with a small kernel value (where the
    // paper says positive features win), one with a large value.
    const std::vector<KernelPair> pairs = {make_kernel_pair("typical", o.dim, 0.5, 0.5, 0.0),
                                           make_kernel_pair("small-kernel", o.dim, 1.0, 1.0, -0.8),
                                           make_kernel_pair("large-kernel", o.dim, 0.8, 0.8, 0.8)};
    PlotFigure figure;
    figure.title = "FAVOR approximation error (measured points; closed forms dashed)";
    figure.columns = 2;
    for (double norm : o.input_norms) figure.panels.push_back(attention_study(o, norm, json));
    for (PlotPanel& panel : kernel_study(o, pairs, json)) figure.panels.push_back(std::move(panel));
    if (!o.plot.empty()) write_svg(o.plot, figure);
  } catch (const std::exception& e) {
    fmt::print(stderr, "attention_error: {}\n", e.what());
    return 1;
  }
  return 0;
}
