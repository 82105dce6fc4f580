// plot_runs: several training runs' curves in one SVG, one line per run: the evaluated metric
// against training minutes (evaluation excluded) and against steps, read from each run's
// JSON-lines log (what train_text, train_protein and train_pixels write beside their checkpoint).
// Several metrics (e.g. text and protein runs in one figure) get a row of panels each.
//
//   plot_runs --out docs/studies/redraw_text.svg --metric val_bpc --metric-label "validation bits/char"
//             fixed=runs/fixed.jsonl redraw100=runs/redraw100.jsonl
//
// An argument is LABEL=LOG; a log without evaluations of the metric is an error naming it.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "curve_plot.hpp"
#include "svg_plot.hpp"
#include "training_session.hpp"  // run_program

using namespace pf;
using namespace pf::examples;

namespace {

struct Options {
  std::string out, title;
  std::vector<std::string> metrics, metric_labels;  // one label per metric (default: the key)
  std::vector<double> scales;                      // one per metric (default 1)
  bool log_y = false;
  std::vector<std::string> runs;  // LABEL=LOG
};

int run(const Options& o) {
  if (o.runs.empty()) throw std::invalid_argument("no runs given (LABEL=LOG arguments)");
  const std::vector<std::string> keys = o.metrics.empty() ? std::vector<std::string>{"val_bpc"} : o.metrics;
  if (o.metric_labels.size() > keys.size() || o.scales.size() > keys.size())
    throw std::invalid_argument(fmt::format("{} --metric-label and {} --scale values for {} metrics", o.metric_labels.size(),
                                            o.scales.size(), keys.size()));
  const AxisScale y_scale = o.log_y ? AxisScale::log : AxisScale::linear;
  std::vector<CurveMetric> metrics;
  std::vector<PlotPanel> by_minutes, by_steps;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    metrics.push_back({keys[i], i < o.metric_labels.size() ? o.metric_labels[i] : keys[i], i < o.scales.size() ? o.scales[i] : 1});
    by_minutes.push_back({metrics[i].label + " by time", {"training minutes (evaluation excluded)", AxisScale::linear},
                          {metrics[i].label, y_scale}, {}});
    by_steps.push_back({metrics[i].label + " by step", {"step", AxisScale::linear}, {metrics[i].label, y_scale}, {}});
  }
  for (const std::string& arg : o.runs) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
      throw std::invalid_argument(fmt::format("run '{}': expected LABEL=LOG", arg));
    const std::string label = arg.substr(0, eq), path = arg.substr(eq + 1);
    // The run goes into the panels of the first metric its log evaluates.
    bool placed = false;
    for (std::size_t i = 0; i < metrics.size() && !placed; ++i) {
      const Curve curve = read_curve(path, metrics[i].key);
      if (curve.metric.values.empty()) continue;
      PlotSeries series;
      series.label = label;
      for (double v : curve.metric.values) series.y.push_back(metrics[i].scale * v);
      series.x = curve.metric.minutes;
      by_minutes[i].series.push_back(series);
      series.x = curve.metric.steps;
      by_steps[i].series.push_back(series);
      placed = true;
    }
    if (!placed)
      throw std::runtime_error(fmt::format("run '{}': '{}' holds no eval lines with {} (missing file, or another metric?)",
                                           label, path, fmt::join(keys, " or ")));
  }
  PlotFigure figure;
  figure.title = o.title.empty() ? fmt::format("{}", fmt::join(keys, ", ")) : o.title;
  figure.columns = 2;
  for (std::size_t i = 0; i < metrics.size(); ++i)
    if (!by_minutes[i].series.empty()) {
      figure.panels.push_back(by_minutes[i]);
      figure.panels.push_back(by_steps[i]);
    }
  write_svg(o.out, figure);
  fmt::print("plot: {} ({} runs)\n", o.out, o.runs.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Overlay several training runs' evaluation curves (from their JSON-lines logs) in one SVG."};
  app.add_option("--out", o.out, "SVG file to write")->required();
  app.add_option("--title", o.title, "figure title (default: the metric's label)");
  app.add_option("--metric", o.metrics,
                 "field of the logs' eval lines (default val_bpc); repeat for runs of several programs: each run is "
                 "drawn in the panels of the first metric its log holds")
      ->allow_extra_args(false);
  app.add_option("--metric-label", o.metric_labels, "axis label of each --metric (default: its key)")->allow_extra_args(false);
  app.add_option("--scale", o.scales, "per --metric: plotted value = scale x logged value (100: a fraction in %)")
      ->allow_extra_args(false);
  app.add_flag("--log-y", o.log_y, "logarithmic metric axis");
  app.add_option("runs", o.runs, "LABEL=LOG, one per run")->required();
  CLI11_PARSE(app, argc, argv);
  return run_program("plot_runs", [&] { return run(o); });
}
