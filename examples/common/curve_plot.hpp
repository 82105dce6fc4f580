// The training curve as a picture: the JSON-lines log of a training program ("train" lines with
// step, loss, elapsed_s; "eval" lines with step, a metric, elapsed_s) drawn as an SVG beside it,
// so a run can be looked at rather than read.
#pragma once

#include <string>
#include <vector>

#include "svg_plot.hpp"

namespace pf::examples {

// What a program evaluates, as logged in its "eval" lines.
struct CurveMetric {
  std::string key;    // field of the eval lines, e.g. "val_bpc" (empty: the program draws no plot)
  std::string label;  // axis label, e.g. "validation bits/char"
  double scale = 1;   // plotted value = scale x logged value (100 shows a fraction in %)
};

// The plot's path: the log's with the extension .svg (runs/text.jsonl -> runs/text.svg).
std::string curve_plot_path(const std::string& log_path);

struct CurvePoints {
  std::vector<double> steps, minutes, values;  // minutes of training time (evaluation excluded)
};
struct Curve {
  CurvePoints train_loss, metric;
};

// The training losses and the metric's evaluations in the log. Lines that are not JSON, or lack
// the fields (or hold null), are skipped; a step at or before an earlier one (a run resumed from
// an older checkpoint) replaces the points from that step on. A missing file is an empty curve.
Curve read_curve(const std::string& log_path, const std::string& metric_key);

// Four panels: training loss (as means over at most max_points buckets of steps) and the metric,
// against steps and against training minutes. Panels without points are left out.
PlotFigure curve_figure(const Curve& curve, const CurveMetric& metric, const std::string& title,
                        std::size_t max_points = 400);

// read_curve + curve_figure, written atomically (temporary file + rename) to svg_path. Returns
// false and writes nothing when the log holds nothing to plot; throws std::runtime_error naming
// svg_path when it cannot be written.
bool write_curve_plot(const std::string& log_path, const std::string& svg_path, const CurveMetric& metric);

}  // namespace pf::examples
