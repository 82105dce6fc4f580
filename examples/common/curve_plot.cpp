#include "curve_plot.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pf::examples {
namespace {

// Appends a point; points at or after `step` (left by a run resumed from an older save) go first.
void add_point(CurvePoints& points, double step, double minutes, double value) {
  while (!points.steps.empty() && points.steps.back() >= step) {
    points.steps.pop_back();
    points.minutes.pop_back();
    points.values.pop_back();
  }
  points.steps.push_back(step);
  points.minutes.push_back(minutes);
  points.values.push_back(value);
}

// Means of consecutive runs of points, at most max_points of them.
CurvePoints bucket_means(const CurvePoints& points, std::size_t max_points) {
  const std::size_t n = points.steps.size(), per_bucket = std::max<std::size_t>(1, (n + max_points - 1) / max_points);
  CurvePoints means;
  for (std::size_t begin = 0; begin < n; begin += per_bucket) {
    const std::size_t end = std::min(n, begin + per_bucket);
    double step = 0, minutes = 0, value = 0;
    for (std::size_t i = begin; i < end; ++i) {
      step += points.steps[i];
      minutes += points.minutes[i];
      value += points.values[i];
    }
    const double count = double(end - begin);
    means.steps.push_back(step / count);
    means.minutes.push_back(minutes / count);
    means.values.push_back(value / count);
  }
  return means;
}

PlotPanel panel(const std::string& title, const std::string& x_label, const std::string& y_label, PlotSeries series) {
  PlotPanel p;
  p.title = title;
  p.x.label = x_label;
  p.y.label = y_label;
  p.series.push_back(std::move(series));
  return p;
}

}  // namespace

std::string curve_plot_path(const std::string& log_path) {
  return std::filesystem::path(log_path).replace_extension(".svg").string();
}

Curve read_curve(const std::string& log_path, const std::string& metric_key) {
  Curve curve;
  std::ifstream in(log_path);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions*/ false);
    if (!j.is_object()) continue;
    const auto number = [&](const char* key, double& out) {
      const auto it = j.find(key);
      if (it == j.end() || !it->is_number()) return false;
      out = it->get<double>();
      return true;
    };
    double step, seconds, value;
    if (!number("step", step) || !number("elapsed_s", seconds)) continue;
    const std::string kind = j.value("kind", "");
    if (kind == "train" && number("loss", value)) add_point(curve.train_loss, step, seconds / 60, value);
    if (kind == "eval" && number(metric_key.c_str(), value)) add_point(curve.metric, step, seconds / 60, value);
  }
  return curve;
}

PlotFigure curve_figure(const Curve& curve, const CurveMetric& metric, const std::string& title, std::size_t max_points) {
  PlotFigure figure;
  figure.title = title;
  figure.columns = 2;
  const char* const by_steps = "step";
  const char* const by_minutes = "training minutes (evaluation excluded)";
  if (!curve.train_loss.steps.empty()) {
    const CurvePoints loss = bucket_means(curve.train_loss, std::max<std::size_t>(max_points, 1));
    const std::size_t per_point = (curve.train_loss.steps.size() + loss.steps.size() - 1) / loss.steps.size();
    PlotSeries series;
    series.label = per_point > 1 ? fmt::format("training loss (mean of {} steps)", per_point) : "training loss";
    series.markers = false;
    series.y = loss.values;
    series.x = loss.steps;
    figure.panels.push_back(panel("training loss by step", by_steps, "cross-entropy (nats)", series));
    series.x = loss.minutes;
    figure.panels.push_back(panel("training loss by time", by_minutes, "cross-entropy (nats)", series));
  }
  if (!curve.metric.steps.empty()) {
    PlotSeries series;
    series.label = metric.label;
    series.color = "#D55E00";  // not the training loss's colour
    for (double v : curve.metric.values) series.y.push_back(metric.scale * v);
    series.x = curve.metric.steps;
    figure.panels.push_back(panel(metric.label + " by step", by_steps, metric.label, series));
    series.x = curve.metric.minutes;
    figure.panels.push_back(panel(metric.label + " by time", by_minutes, metric.label, series));
  }
  return figure;
}

bool write_curve_plot(const std::string& log_path, const std::string& svg_path, const CurveMetric& metric) {
  const PlotFigure figure =
      curve_figure(read_curve(log_path, metric.key), metric, "training curve: " + std::filesystem::path(log_path).filename().string());
  if (figure.panels.empty()) return false;
  write_svg(svg_path, figure);
  return true;
}

}  // namespace pf::examples
