#include <cmath>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "svg_plot.hpp"
#include "examples/svg_well_formed.hpp"
#include "temp_dir.hpp"

using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

PlotFigure two_panel_figure() {
  PlotFigure figure;
  figure.title = "a & b <test>";
  PlotPanel log_panel{"log", {"L", AxisScale::log}, {"seconds", AxisScale::log}, {}};
  log_panel.series.push_back({"measured", {256, 512, 1024}, {0.01, 0.02, 0.04}, {0.001, 0.002, 0.004}, true, true, false, ""});
  log_panel.series.push_back({"formula", {256, 1024}, {0.011, 0.044}, {}, true, false, true, "#123456"});
  PlotPanel linear_panel{"linear", {"x", AxisScale::linear}, {"y", AxisScale::linear}, {}};
  linear_panel.series.push_back({"points", {-1, 0, 1}, {-2, 0, 3}, {}, false, true, false, ""});
  figure.panels = {log_panel, linear_panel};
  return figure;
}

}  // namespace

TEST_CASE("svg plot: a figure renders as a well-formed SVG with its titles, legend and series", "[svg_plot]") {
  const std::string svg = render_svg(two_panel_figure());
  require_well_formed_svg(svg);
  REQUIRE_THAT(svg, Contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  REQUIRE_THAT(svg, Contains("a &amp; b &lt;test&gt;"));  // escaped text
  REQUIRE_THAT(svg, Contains(">measured</text>"));
  REQUIRE_THAT(svg, Contains(">formula</text>"));
  REQUIRE_THAT(svg, Contains("stroke-dasharray"));
  REQUIRE_THAT(svg, Contains("<polyline"));
  // Two panels side by side: 2 x 560 wide.
  REQUIRE_THAT(svg, Contains("width=\"1120\""));
}

TEST_CASE("svg plot: write_svg writes the rendered document", "[svg_plot]") {
  TempDir dir;
  const std::string path = dir.file("plot.svg");
  write_svg(path, two_panel_figure());
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  REQUIRE(content.str() == render_svg(two_panel_figure()));
  REQUIRE_THROWS_WITH(write_svg(dir.file("missing/dir/plot.svg"), two_panel_figure()), Contains("missing/dir"));
}

TEST_CASE("svg plot: log axes map decades to equal pixel steps", "[svg_plot]") {
  const AxisMap map(AxisScale::log, 1, 1000, 100, 400);
  REQUIRE(map(1) == Approx(100));
  REQUIRE(map(10) == Approx(200));
  REQUIRE(map(100) == Approx(300));
  REQUIRE(map(1000) == Approx(400));
  REQUIRE(map(std::sqrt(10.0)) == Approx(150));
  const AxisMap linear(AxisScale::linear, 0, 10, 400, 100);  // y axes run upwards
  REQUIRE(linear(0) == Approx(400));
  REQUIRE(linear(5) == Approx(250));
  REQUIRE_THROWS_WITH(AxisMap(AxisScale::log, 0, 10, 0, 1), Contains("[0, 10]"));

  const AxisRange range = nice_range(AxisScale::log, 0.003, 47);
  REQUIRE(range.lo == Approx(0.001));
  REQUIRE(range.hi == Approx(100));
  const auto ticks = axis_ticks(AxisScale::log, range.lo, range.hi);
  REQUIRE(ticks.size() == 6);
  REQUIRE(ticks.front() == Approx(0.001));
  REQUIRE(ticks.back() == Approx(100));
  const auto linear_ticks = axis_ticks(AxisScale::linear, 0, 1);
  REQUIRE(linear_ticks.size() == 6);  // 0, 0.2, ..., 1
  REQUIRE(linear_ticks[1] == Approx(0.2));
}

TEST_CASE("svg plot: bad input is rejected naming the panel, series and value", "[svg_plot]") {
  PlotFigure figure = two_panel_figure();
  REQUIRE_THROWS_WITH(render_svg(PlotFigure{}), Contains("no panels"));

  figure.panels[0].series[0].y[1] = -0.5;
  REQUIRE_THROWS_WITH(render_svg(figure), Contains("'measured'") && Contains("y[1] = -0.5") && Contains("logarithmic"));

  figure = two_panel_figure();
  figure.panels[1].series[0].x.push_back(2);
  REQUIRE_THROWS_WITH(render_svg(figure), Contains("'points'") && Contains("4 x values but 3 y values"));

  figure = two_panel_figure();
  figure.panels[1].series[0].y[0] = NAN;
  REQUIRE_THROWS_WITH(render_svg(figure), Contains("not finite"));

  figure = two_panel_figure();
  figure.panels[0].series[0].y_error.pop_back();
  REQUIRE_THROWS_WITH(render_svg(figure), Contains("3 y values but 2 errors"));

  figure = two_panel_figure();
  figure.panels[1].series.clear();
  REQUIRE_THROWS_WITH(render_svg(figure), Contains("panel 1 ('linear') has no points"));
}
