// plot_runs: several training runs' curves in one SVG, one line per run: the evaluated metric
// against training minutes (evaluation excluded) and against steps, read from each run's
// JSON-lines log (what train_text, train_protein and train_pixels write beside their checkpoint).
//
//   plot_runs --out docs/studies/redraw_text.svg --metric val_bpc --metric-label "validation bits/char"
//             fixed=runs/fixed.jsonl redraw100=runs/redraw100.jsonl
//
// An argument is LABEL=LOG; a log without evaluations of the metric is an error naming it.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "curve_plot.hpp"
#include "svg_plot.hpp"
#include "training_session.hpp"  // run_program

using namespace pf;
using namespace pf::examples;

namespace {

struct Options {
  std::string out, title;
  CurveMetric metric{"val_bpc", "validation bits/char", 1};
  bool log_y = false;
  std::vector<std::string> runs;  // LABEL=LOG
};

int run(const Options& o) {
  if (o.runs.empty()) throw std::invalid_argument("no runs given (LABEL=LOG arguments)");
  PlotPanel by_minutes{o.metric.label + " by time", {"training minutes (evaluation excluded)", AxisScale::linear},
                       {o.metric.label, o.log_y ? AxisScale::log : AxisScale::linear}, {}};
  PlotPanel by_steps{o.metric.label + " by step", {"step", AxisScale::linear},
                     {o.metric.label, o.log_y ? AxisScale::log : AxisScale::linear}, {}};
  for (const std::string& arg : o.runs) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
      throw std::invalid_argument(fmt::format("run '{}': expected LABEL=LOG", arg));
    const std::string label = arg.substr(0, eq), path = arg.substr(eq + 1);
    const Curve curve = read_curve(path, o.metric.key);
    if (curve.metric.values.empty())
      throw std::runtime_error(fmt::format("run '{}': '{}' holds no eval lines with '{}' (missing file, or another metric?)",
                                           label, path, o.metric.key));
    PlotSeries series;
    series.label = label;
    for (double v : curve.metric.values) series.y.push_back(o.metric.scale * v);
    series.x = curve.metric.minutes;
    by_minutes.series.push_back(series);
    series.x = curve.metric.steps;
    by_steps.series.push_back(series);
  }
  PlotFigure figure;
  figure.title = o.title.empty() ? o.metric.label : o.title;
  figure.panels = {by_minutes, by_steps};
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
  app.add_option("--metric", o.metric.key, "field of the logs' eval lines")->capture_default_str();
  app.add_option("--metric-label", o.metric.label, "axis label of the metric")->capture_default_str();
  app.add_option("--scale", o.metric.scale, "plotted value = scale x logged value (100: a fraction in %)")
      ->capture_default_str();
  app.add_flag("--log-y", o.log_y, "logarithmic metric axis");
  app.add_option("runs", o.runs, "LABEL=LOG, one per run")->required();
  CLI11_PARSE(app, argc, argv);
  return run_program("plot_runs", [&] { return run(o); });
}
