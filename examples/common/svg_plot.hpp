// A small SVG chart writer for the study programs (attention_error, cost_study): one or more
// panels side by side, each with linear or log axes, ticks, a legend, and series drawn as
// markers, lines, or both. No dependencies beyond the standard library and fmt.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pf::examples {

enum class AxisScale { linear, log };

struct PlotAxis {
  std::string label;
  AxisScale scale = AxisScale::linear;
};

struct PlotSeries {
  std::string label;            // legend text (empty: not in the legend)
  std::vector<double> x, y;     // same length; positive on a log axis
  std::vector<double> y_error;  // optional: +- bars, empty or same length as y
  bool line = true;             // join the points in order
  bool markers = true;          // a dot at each point
  bool dashed = false;          // for lines that are formulas rather than measurements
  std::string color;            // empty: the next colour of the palette
};

struct PlotPanel {
  std::string title;
  PlotAxis x, y;
  std::vector<PlotSeries> series;
};

struct PlotFigure {
  std::string title;
  std::vector<PlotPanel> panels;  // drawn left to right, top to bottom
  std::size_t columns = 0;         // panels per row (0: all in one row)
  double panel_width = 560, panel_height = 400;
};

// Maps data values on one axis to pixels: [lo, hi] -> [pixel_lo, pixel_hi], in log10 for log.
class AxisMap {
 public:
  AxisMap(AxisScale scale, double lo, double hi, double pixel_lo, double pixel_hi);
  double operator()(double value) const;

 private:
  AxisScale scale_;
  double lo_, hi_, pixel_lo_, pixel_hi_;
};

// Data range [lo, hi] of an axis widened to "nice" bounds (powers of ten on log axes).
struct AxisRange {
  double lo = 0, hi = 1;
};
AxisRange nice_range(AxisScale scale, double data_lo, double data_hi);
// Tick values inside [lo, hi]: powers of ten on log axes (every other one when there are many),
// 1-2-5 steps on linear axes.
std::vector<double> axis_ticks(AxisScale scale, double lo, double hi);

// The figure as an SVG document. Throws std::invalid_argument naming the panel, series and
// value for: no panels, a panel without points, x/y (or y_error) of different lengths,
// non-finite values, or values <= 0 on a log axis.
std::string render_svg(const PlotFigure& figure);
// render_svg, written to `path` atomically; std::runtime_error naming the path on failure.
void write_svg(const std::string& path, const PlotFigure& figure);

}  // namespace pf::examples
