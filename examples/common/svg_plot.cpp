#include "svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/io/atomic_file.hpp"

namespace pf::examples {

namespace {

// Colour-blind-friendly palette (Okabe-Ito), then greys.
const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
                                "#56B4E9", "#000000", "#F0E442", "#777777"};
constexpr std::size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// Pixels around each panel's plot area; the legend gets its own column on the right.
constexpr double kMarginLeft = 70, kMarginRight = 12, kMarginTop = 34, kMarginBottom = 46, kLegendWidth = 230;
constexpr double kFigureTitleHeight = 28;

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string tick_label(AxisScale scale, double v) {
  if (scale == AxisScale::log) {
    const int e = int(std::lround(std::log10(v)));
    if (e >= 0 && e <= 4) return fmt::format("{:g}", std::pow(10.0, e));
    return fmt::format("1e{}", e);
  }
  return fmt::format("{:g}", v);
}

void check_values(const PlotPanel& panel, std::size_t panel_index, const PlotSeries& s, const std::vector<double>& v,
                  const char* what, AxisScale scale) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]))
      throw std::invalid_argument(fmt::format("svg plot: panel {} ('{}') series '{}' {}[{}] = {} is not finite",
                                              panel_index, panel.title, s.label, what, i, v[i]));
    if (scale == AxisScale::log && v[i] <= 0)
      throw std::invalid_argument(fmt::format("svg plot: panel {} ('{}') series '{}' {}[{}] = {} is not positive, "
                                              "but the {} axis is logarithmic",
                                              panel_index, panel.title, s.label, what, i, v[i], what));
  }
}

void validate(const PlotFigure& figure) {
  if (figure.panels.empty()) throw std::invalid_argument("svg plot: the figure has no panels");
  if (!(figure.panel_width > kMarginLeft + kMarginRight + kLegendWidth + 50) ||
      !(figure.panel_height > kMarginTop + kMarginBottom + 50))
    throw std::invalid_argument(fmt::format("svg plot: panel size {} x {} is too small", figure.panel_width,
                                            figure.panel_height));
  for (std::size_t p = 0; p < figure.panels.size(); ++p) {
    const PlotPanel& panel = figure.panels[p];
    std::size_t points = 0;
    for (const PlotSeries& s : panel.series) {
      if (s.x.size() != s.y.size())
        throw std::invalid_argument(fmt::format("svg plot: panel {} ('{}') series '{}' has {} x values but {} y values",
                                                p, panel.title, s.label, s.x.size(), s.y.size()));
      if (!s.y_error.empty() && s.y_error.size() != s.y.size())
        throw std::invalid_argument(fmt::format("svg plot: panel {} ('{}') series '{}' has {} y values but {} errors",
                                                p, panel.title, s.label, s.y.size(), s.y_error.size()));
      check_values(panel, p, s, s.x, "x", panel.x.scale);
      check_values(panel, p, s, s.y, "y", panel.y.scale);
      check_values(panel, p, s, s.y_error, "y_error", AxisScale::linear);
      points += s.x.size();
    }
    if (points == 0) throw std::invalid_argument(fmt::format("svg plot: panel {} ('{}') has no points", p, panel.title));
  }
}

// Data extent of one axis over every series (error bars included, clipped to > 0 on log axes).
std::pair<double, double> extent(const PlotPanel& panel, bool y_axis) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  const AxisScale scale = y_axis ? panel.y.scale : panel.x.scale;
  for (const PlotSeries& s : panel.series) {
    const std::vector<double>& v = y_axis ? s.y : s.x;
    for (std::size_t i = 0; i < v.size(); ++i) {
      double a = v[i], b = v[i];
      if (y_axis && !s.y_error.empty()) {
        a -= s.y_error[i], b += s.y_error[i];
        if (scale == AxisScale::log && a <= 0) a = v[i];
      }
      lo = std::min(lo, a), hi = std::max(hi, b);
    }
  }
  return {lo, hi};
}

void render_panel(std::string& svg, const PlotPanel& panel, double left, double top, double width, double height,
                  std::size_t& colour_index) {
  const double plot_left = left + kMarginLeft, plot_top = top + kMarginTop;
  const double plot_right = left + width - kLegendWidth - kMarginRight, plot_bottom = top + height - kMarginBottom;
  const auto [x_lo, x_hi] = extent(panel, false);
  const auto [y_lo, y_hi] = extent(panel, true);
  const AxisRange xr = nice_range(panel.x.scale, x_lo, x_hi), yr = nice_range(panel.y.scale, y_lo, y_hi);
  const AxisMap map_x(panel.x.scale, xr.lo, xr.hi, plot_left, plot_right);
  const AxisMap map_y(panel.y.scale, yr.lo, yr.hi, plot_bottom, plot_top);

  // Titles start at the panel's left edge: centred over the plot, long ones ran off the figure.
  svg += fmt::format("<g class=\"panel\">\n<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"14\">{}</text>\n",
                     left + 8, top + 20, escape_xml(panel.title));
  // Grid and ticks.
  for (double t : axis_ticks(panel.x.scale, xr.lo, xr.hi)) {
    const double px = map_x(t);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e0e0e0\"/>\n", px,
                       plot_top, plot_bottom);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n", px,
                       plot_bottom + 15, tick_label(panel.x.scale, t));
  }
  for (double t : axis_ticks(panel.y.scale, yr.lo, yr.hi)) {
    const double py = map_y(t);
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#e0e0e0\"/>\n",
                       plot_left, py, plot_right);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\">{}</text>\n",
                       plot_left - 5, py + 4, tick_label(panel.y.scale, t));
  }
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#000\"/>\n",
                     plot_left, plot_top, plot_right - plot_left, plot_bottom - plot_top);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
                     (plot_left + plot_right) / 2, plot_bottom + 34, escape_xml(panel.x.label));
  svg += fmt::format(
      "<text x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 {0:.1f} {1:.1f})\">{2}</text>\n",
      left + 16, (plot_top + plot_bottom) / 2, escape_xml(panel.y.label));

  // Series, then the legend entry for each.
  double legend_y = plot_top + 6;
  const double legend_x = plot_right + 16;
  for (const PlotSeries& s : panel.series) {
    const std::string colour = s.color.empty() ? kPalette[colour_index++ % kPaletteSize] : s.color;
    const std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    svg += fmt::format("<g class=\"series\" data-label=\"{}\">\n", escape_xml(s.label));
    if (s.line && s.x.size() > 1) {
      std::string points;
      for (std::size_t i = 0; i < s.x.size(); ++i) points += fmt::format("{:.2f},{:.2f} ", map_x(s.x[i]), map_y(s.y[i]));
      svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{} points=\"{}\"/>\n", colour, dash,
                         points);
    }
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const double px = map_x(s.x[i]), py = map_y(s.y[i]);
      if (!s.y_error.empty() && s.y_error[i] > 0) {
        double lo = s.y[i] - s.y_error[i];
        if (panel.y.scale == AxisScale::log && lo <= 0) lo = s.y[i];
        svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" stroke=\"{3}\"/>\n", px,
                           map_y(lo), map_y(s.y[i] + s.y_error[i]), colour);
      }
      if (s.markers)
        svg += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"3\" fill=\"{}\"/>\n", px, py, colour);
    }
    svg += "</g>\n";
    if (!s.label.empty()) {
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"{}/>\n",
                         legend_x, legend_y, legend_x + 22, legend_y, colour, s.line ? dash : " stroke-opacity=\"0\"");
      if (s.markers)
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", legend_x + 11, legend_y, colour);
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\">{}</text>\n", legend_x + 28, legend_y + 4,
                         escape_xml(s.label));
      legend_y += 16;
    }
  }
  svg += "</g>\n";
}

}  // namespace

AxisMap::AxisMap(AxisScale scale, double lo, double hi, double pixel_lo, double pixel_hi)
    : scale_(scale), lo_(lo), hi_(hi), pixel_lo_(pixel_lo), pixel_hi_(pixel_hi) {
  if (!(hi > lo) || (scale == AxisScale::log && !(lo > 0)))
    throw std::invalid_argument(fmt::format("AxisMap: bad range [{}, {}] for a {} axis", lo, hi,
                                            scale == AxisScale::log ? "log" : "linear"));
  if (scale == AxisScale::log) lo_ = std::log10(lo), hi_ = std::log10(hi);
}

double AxisMap::operator()(double value) const {
  const double v = scale_ == AxisScale::log ? std::log10(value) : value;
  return pixel_lo_ + (v - lo_) / (hi_ - lo_) * (pixel_hi_ - pixel_lo_);
}

AxisRange nice_range(AxisScale scale, double data_lo, double data_hi) {
  if (scale == AxisScale::log) {
    double lo = std::pow(10.0, std::floor(std::log10(data_lo) + 1e-9));
    double hi = std::pow(10.0, std::ceil(std::log10(data_hi) - 1e-9));
    if (!(hi > lo)) lo /= 10, hi *= 10;  // one value exactly on a power of ten
    return {lo, hi};
  }
  if (data_hi == data_lo) {
    const double pad = data_lo == 0 ? 1 : std::abs(data_lo) * 0.1;
    return {data_lo - pad, data_hi + pad};
  }
  const double pad = 0.05 * (data_hi - data_lo);
  return {data_lo - pad, data_hi + pad};
}

std::vector<double> axis_ticks(AxisScale scale, double lo, double hi) {
  std::vector<double> ticks;
  if (scale == AxisScale::log) {
    const int e_lo = int(std::ceil(std::log10(lo) - 1e-9)), e_hi = int(std::floor(std::log10(hi) + 1e-9));
    const int step = (e_hi - e_lo) > 8 ? 2 : 1;
    for (int e = e_lo; e <= e_hi; e += step) ticks.push_back(std::pow(10.0, e));
    return ticks;
  }
  const double raw = (hi - lo) / 6;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double f : {1.0, 2.0, 5.0, 10.0})
    if (f * magnitude >= raw) {
      step = f * magnitude;
      break;
    }
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) ticks.push_back(std::abs(t) < 1e-12 * step ? 0 : t);
  return ticks;
}

std::string render_svg(const PlotFigure& figure) {
  validate(figure);
  const double title_height = figure.title.empty() ? 0 : kFigureTitleHeight;
  const std::size_t columns = figure.columns == 0 ? figure.panels.size() : std::min(figure.columns, figure.panels.size());
  const std::size_t rows = (figure.panels.size() + columns - 1) / columns;
  const double width = figure.panel_width * double(columns);
  const double height = figure.panel_height * double(rows) + title_height;
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
      width, height);
  if (!figure.title.empty())
    svg += fmt::format("<text x=\"{:.1f}\" y=\"20\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n", width / 2,
                       escape_xml(figure.title));
  std::size_t colour_index = 0;
  for (std::size_t p = 0; p < figure.panels.size(); ++p) {
    colour_index = 0;  // the same series order gets the same colours in every panel
    render_panel(svg, figure.panels[p], figure.panel_width * double(p % columns),
                 title_height + figure.panel_height * double(p / columns), figure.panel_width, figure.panel_height,
                 colour_index);
  }
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::string& path, const PlotFigure& figure) {
  const std::string svg = render_svg(figure);
  write_file_atomically(path, {{svg.data(), svg.size()}});
}

}  // namespace pf::examples
