#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "curve_plot.hpp"
#include "examples/fixture_files.hpp"
#include "examples/svg_well_formed.hpp"
#include "progress.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

// A log as the training loop writes it: a train line per step, an eval line every 5 steps.
void write_log(const std::string& path, int steps, bool append) {
  JsonlLog log(path, append);
  for (int step = 1; step <= steps; ++step) {
    log.write("train", {{"step", double(step)}, {"loss", 5.0 / step}, {"lr", 1e-3}, {"tokens_per_s", 1000},
                        {"elapsed_s", 3.0 * step}});
    if (step % 5 == 0) log.write("eval", {{"step", double(step)}, {"val_bpc", 4.0 - 0.1 * step}, {"elapsed_s", 3.0 * step}});
  }
}

}  // namespace

TEST_CASE("curve plot: the SVG beside the log holds the training loss and the metric", "[examples][curve_plot]") {
  TempDir dir("curve_plot");
  const std::string log_path = dir.file("text.jsonl");
  REQUIRE(curve_plot_path(log_path) == dir.file("text.svg"));
  write_log(log_path, 20, false);
  const CurveMetric metric{"val_bpc", "validation bits/char"};
  REQUIRE(write_curve_plot(log_path, curve_plot_path(log_path), metric));
  const std::string svg = read_plain_file(dir.file("text.svg"));
  require_well_formed_svg(svg);
  REQUIRE_THAT(svg, Contains(">training loss</text>") && Contains(">validation bits/char</text>") &&
                        Contains("training loss by step") && Contains("validation bits/char by time") &&
                        Contains("training minutes"));
  // No temporary file is left beside it.
  REQUIRE(std::distance(std::filesystem::directory_iterator(std::filesystem::path(log_path).parent_path()),
                        std::filesystem::directory_iterator()) == 2);
}

TEST_CASE("curve plot: the curve read from the log", "[examples][curve_plot]") {
  TempDir dir("curve_read");
  const std::string log_path = dir.file("run.jsonl");
  write_log(log_path, 20, false);
  Curve curve = read_curve(log_path, "val_bpc");
  REQUIRE(curve.train_loss.steps.size() == 20);
  REQUIRE(curve.train_loss.values[1] == Approx(2.5));
  REQUIRE(curve.train_loss.minutes[19] == Approx(1.0));  // 60 s
  REQUIRE(curve.metric.steps == std::vector<double>{5, 10, 15, 20});
  REQUIRE(curve.metric.values[3] == Approx(2.0));

  // A run resumed from step 10 logs steps 11.. again: the later points replace the earlier ones.
  {
    JsonlLog log(log_path, true);
    log.write("train", {{"step", 11}, {"loss", 9.0}, {"elapsed_s", 33}});
    log.write("eval", {{"step", 15}, {"val_bpc", NAN}, {"elapsed_s", 45}});  // null: skipped
  }
  curve = read_curve(log_path, "val_bpc");
  REQUIRE(curve.train_loss.steps.size() == 11);
  REQUIRE(curve.train_loss.values.back() == Approx(9.0));
  REQUIRE(curve.metric.steps == std::vector<double>{5, 10, 15, 20});

  // Means of buckets keep the plot small; the figure says so.
  const PlotFigure figure = curve_figure(curve, {"val_bpc", "bpc", 100}, "t", 4);
  REQUIRE(figure.panels.size() == 4);
  REQUIRE(figure.panels[0].series[0].x.size() == 4);
  REQUIRE_THAT(figure.panels[0].series[0].label, Contains("mean of 3 steps"));
  REQUIRE(figure.panels[2].series[0].y[0] == Approx(350));  // scaled x 100

  // Nothing to plot: no file.
  REQUIRE_FALSE(write_curve_plot(dir.file("missing.jsonl"), dir.file("missing.svg"), {"val_bpc", "bpc"}));
  REQUIRE_FALSE(std::filesystem::exists(dir.file("missing.svg")));
}
