// Cost study (the Performer paper's Figure 3 in small): forward+backward time and peak tensor
// memory against sequence length L, for exact softmax attention, bidirectional FAVOR+ and causal
// FAVOR+ (chunked), on (a) the attention layer alone and (b) a small Performer LM training step.
// One JSON object per line on stdout (and in --out); least-squares slopes of log(time) and
// log(memory) against log(L) as JSON lines and in the legend of the --plot SVG.
//
//   ./build/bench/cost_study --out docs/cost_study.jsonl --plot docs/cost_study.svg   (full run)
//   ./build/bench/cost_study --quick                                                   (smoke run)
//
// (a) layer: q, k, v [B, H, L, d] leaves; FAVOR rows include both positive feature maps (M
//     orthogonal features, queries row-stabilised, keys slice-stabilised), as attention_bench.
// (b) model: PerformerLM (depth, width, heads, ff = 4 width, M features, no position table so
//     that no parameter grows with L), one step = loss, backward, Adam update, on B x L tokens.
// Time: median over --reps of one step (1 rep once a step takes more than 2 s). Memory: the
// tensor pool's peak live bytes during the step minus the live bytes before it (engine/memory.hpp),
// so inputs, parameters and optimizer state are excluded and activations, features and gradients
// are included. A method stops at the first length whose predicted time (last time x the last
// growth factor) exceeds --time-cap, or past --max-exact-length for exact attention.
// Utilisation: "fwdbwd_flops" counts a point's matrix products (models/performer_flops.hpp; the
// model step's Adam update is not counted), "gflops" = fwdbwd_flops / fwdbwd_s, "peak_fraction" =
// gflops / "peak_gflops", the FMA probe's float32 peak at these threads
// (engine/kernels/peak_probe.hpp, as bench/roofline prints it).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/kernels/gemm.hpp"
#include "engine/kernels/peak_probe.hpp"
#include "engine/core/memory.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/core/random.hpp"
#include "layers/attention/exact_attention.hpp"
#include "layers/attention/favor_attention.hpp"
#include "layers/attention/feature_maps.hpp"
#include "layers/attention/random_projection.hpp"
#include "models/performer_flops.hpp"
#include "models/performer_lm.hpp"
#include "json_lines_tee.hpp"
#include "svg_plot.hpp"

using namespace pf;
using namespace pf::examples;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int threads = 2;
  std::size_t min_length = 256, max_length = 65536, max_exact_length = 8192;
  double time_cap = 60;  // seconds per step
  int reps = 3;
  std::size_t batch = 1, heads = 8, head_dim = 64, features = 256;                    // layer
  std::size_t model_depth = 2, model_width = 256, model_heads = 4, model_features = 256;  // model
  std::size_t fit_from = 1024;  // slopes use L >= this
  bool quick = false;
  bool skip_layer = false, skip_model = false;
  std::string out, plot;
  double peak_gflops = 0;  // the FMA probe's peak at --threads
};

const char* const kImpls[] = {"exact", "favor_bidir", "favor_causal"};

struct Point {
  std::size_t length = 0;
  double seconds = 0;
  std::size_t peak_bytes = 0;
};

using JsonLines = pf::examples::JsonLinesTee;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Median time and peak memory of `step` (one warm-up call first, untimed).
Point measure(const std::function<void()>& step, std::size_t length, int reps) {
  step();
  std::vector<double> times;
  std::size_t peak = 0;
  for (int rep = 0; rep < reps; ++rep) {
    const std::size_t baseline = memory_stats().live_bytes;
    reset_peak_memory();
    const auto t0 = Clock::now();
    step();
    times.push_back(seconds_since(t0));
    peak = std::max(peak, memory_stats().peak_live_bytes - baseline);
    if (times.back() > 2.0) break;  // long steps: noise is small relative to the time
  }
  std::sort(times.begin(), times.end());
  return {length, times[times.size() / 2], peak};
}

// Least-squares slope of log(y) against log(x).
double log_log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = double(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

// One step of the layer study at length L for impl.
std::function<void()> layer_step(const std::string& impl, std::size_t length, const Options& o, const Tensor<float>& w,
                                 Rng& rng) {
  const Shape shape{o.batch, o.heads, length, o.head_dim};
  auto q = randn<float>(shape, rng, 1.0f, true), k = randn<float>(shape, rng, 1.0f, true);
  auto v = randn<float>(shape, rng, 1.0f, true);
  auto seed = std::make_shared<Array<float>>(randn_array<float>(shape, rng));
  return [=]() mutable {
    q.zero_grad(), k.zero_grad(), v.zero_grad();
    Tensor<float> out;
    if (impl == "exact") {
      out = exact_attention(q, k, v, false);
    } else {
      const Tensor<float> qf = positive_features(q, w, Stabiliser::row_max, 1e-4);
      const Tensor<float> kf = positive_features(k, w, Stabiliser::slice_max, 1e-4);
      out = impl == "favor_bidir" ? favor_bidirectional(qf, kf, v) : favor_causal_chunked(qf, kf, v);
    }
    out.backward(*seed);
  };
}

PerformerConfig model_config(const std::string& impl, std::size_t length, const Options& o) {
  PerformerConfig c;
  c.vocab = 256;
  c.width = o.model_width;
  c.depth = o.model_depth;
  c.heads = o.model_heads;
  c.ff_hidden = 4 * o.model_width;
  c.context = length;
  c.attention = impl == "exact" ? AttentionKernel::exact : AttentionKernel::favor_positive;
  c.features = o.model_features;
  c.positions = PositionKind::none;
  c.causal = impl == "favor_causal";
  c.seed = 3;
  c.validate();
  return c;
}

// The model, its optimizer and a batch, alive for the duration of the measurement.
struct ModelRun {
  std::shared_ptr<PerformerLM<float>> model;
  std::shared_ptr<Adam<float>> optimizer;
  Indices ids, targets;
};

std::function<void()> model_step(const std::string& impl, std::size_t length, const Options& o, Rng& rng) {
  auto run = std::make_shared<ModelRun>();
  run->model = std::make_shared<PerformerLM<float>>(model_config(impl, length, o));
  run->optimizer = std::make_shared<Adam<float>>(run->model->named_parameters(), AdamOptions{});
  run->ids = Indices::from_shape({o.batch, length});
  run->targets = Indices::from_shape({o.batch, length});
  for (std::size_t i = 0; i < run->ids.size(); ++i) {
    run->ids.data()[i] = std::int64_t(rng.below(256));
    run->targets.data()[i] = std::int64_t(rng.below(256));
  }
  return [run]() {
    Tensor<float> loss = run->model->loss(run->ids, run->targets);
    loss.backward();
    run->optimizer->step();
    run->optimizer->zero_grad();
  };
}

// The matrix-product FLOPs of one forward + backward of a point.
double point_flops(const std::string& part, const std::string& impl, std::size_t length, const Options& o) {
  if (part == "layer")
    return attention_flops(impl == "exact" ? AttentionKernel::exact : AttentionKernel::favor_positive,
                           impl == "favor_causal", length, o.head_dim, o.features)
               .training() *
           double(o.batch * o.heads);
  return lm_flops_per_token(model_config(impl, length, o)).training() * double(o.batch * length);
}

std::string part_settings(const std::string& part, const Options& o) {
  if (part == "layer")
    return fmt::format("\"batch\":{},\"heads\":{},\"d\":{},\"M\":{}", o.batch, o.heads, o.head_dim, o.features);
  return fmt::format("\"batch\":{},\"depth\":{},\"width\":{},\"heads\":{},\"ff_hidden\":{},\"M\":{}", o.batch,
                     o.model_depth, o.model_width, o.model_heads, 4 * o.model_width, o.model_features);
}

// Runs one part for every impl over the lengths; returns the points per impl.
std::map<std::string, std::vector<Point>> run_part(const std::string& part, const Options& o, JsonLines& json) {
  RandomProjection<float> projection({o.features, o.head_dim, ProjectionKind::orthogonal, RowNorm::chi}, 7);
  const Tensor<float> w = projection.matrix();
  std::map<std::string, std::vector<Point>> results;
  for (const std::string impl : kImpls) {
    std::vector<Point>& points = results[impl];
    for (std::size_t length = o.min_length; length <= o.max_length; length *= 2) {
      std::string skip;
      if (impl == "exact" && length > o.max_exact_length)
        skip = fmt::format("L > --max-exact-length {}", o.max_exact_length);
      else if (points.size() >= 1) {
        const double growth =
            points.size() >= 2 ? std::max(2.0, points.back().seconds / points[points.size() - 2].seconds) : 4.0;
        if (points.back().seconds * growth > o.time_cap)
          skip = fmt::format("predicted {:.3g} s per step > --time-cap {} s", points.back().seconds * growth,
                             o.time_cap);
      }
      if (!skip.empty()) {
        json.emit(fmt::format("{{\"bench\":\"cost_study\",\"part\":\"{}\",\"impl\":\"{}\",\"L\":{},\"skipped\":true,"
                              "\"reason\":\"{}\"}}",
                              part, impl, length, skip));
        break;  // longer sequences cost more still
      }
      Rng rng(length);
      Point point;
      {
        const auto step = part == "layer" ? layer_step(impl, length, o, w, rng) : model_step(impl, length, o, rng);
        point = measure(step, length, o.reps);
      }
      release_cached_memory();  // the next length uses other sizes
      points.push_back(point);
      const double tokens = double(o.batch * length), flops = point_flops(part, impl, length, o);
      const double gflops = flops / point.seconds / 1e9;
      json.emit(fmt::format(
          "{{\"bench\":\"cost_study\",\"part\":\"{}\",\"impl\":\"{}\",\"L\":{},{},\"threads\":{},\"fwdbwd_s\":{:.6g},"
          "\"peak_bytes\":{},\"us_per_token\":{:.4g},\"fwdbwd_flops\":{:.6g},\"gflops\":{:.2f},\"peak_gflops\":{:.1f},"
          "\"peak_fraction\":{:.4f}}}",
          part, impl, length, part_settings(part, o), o.threads, point.seconds, point.peak_bytes,
          1e6 * point.seconds / tokens, flops, gflops, o.peak_gflops, gflops / o.peak_gflops));
    }
  }
  return results;
}

// Slopes as JSON lines, and the two panels (time, memory) of one part.
std::vector<PlotPanel> fit_and_plot(const std::string& part, const std::map<std::string, std::vector<Point>>& results,
                                    const Options& o, JsonLines& json) {
  const std::string what = part == "layer" ? fmt::format("attention layer (B={}, H={}, d={}, M={})", o.batch, o.heads,
                                                         o.head_dim, o.features)
                                           : fmt::format("Performer LM step ({} layers, width {}, {} heads, M={})",
                                                         o.model_depth, o.model_width, o.model_heads, o.model_features);
  PlotPanel time{what + ": time", {"sequence length L", AxisScale::log}, {"forward+backward seconds", AxisScale::log}, {}};
  PlotPanel memory{what + ": memory", {"sequence length L", AxisScale::log}, {"peak tensor bytes", AxisScale::log}, {}};
  for (const std::string impl : kImpls) {
    const std::vector<Point>& points = results.at(impl);
    std::vector<double> x, t, m, fit_x, fit_t, fit_m;
    for (const Point& p : points) {
      x.push_back(double(p.length)), t.push_back(p.seconds), m.push_back(double(std::max<std::size_t>(p.peak_bytes, 1)));
      if (p.length >= o.fit_from) fit_x.push_back(x.back()), fit_t.push_back(t.back()), fit_m.push_back(m.back());
    }
    if (x.empty()) continue;
    std::string time_label = impl, memory_label = impl;
    if (fit_x.size() >= 2) {
      const double time_slope = log_log_slope(fit_x, fit_t), memory_slope = log_log_slope(fit_x, fit_m);
      time_label += fmt::format(" (slope {:.2f})", time_slope);
      memory_label += fmt::format(" (slope {:.2f})", memory_slope);
      json.emit(fmt::format("{{\"bench\":\"cost_study\",\"part\":\"{}\",\"impl\":\"{}\",\"fit\":\"log-log least "
                            "squares\",\"from_L\":{},\"to_L\":{},\"points\":{},\"time_slope\":{:.3f},"
                            "\"memory_slope\":{:.3f}}}",
                            part, impl, fit_x.front(), fit_x.back(), fit_x.size(), time_slope, memory_slope));
    }
    time.series.push_back({time_label, x, t, {}, true, true, false, ""});
    memory.series.push_back({memory_label, x, m, {}, true, true, false, ""});
  }
  return {time, memory};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Cost study: forward+backward time and peak memory vs sequence length for exact attention and "
               "FAVOR+ (bidirectional, causal), on the attention layer and on a small Performer LM step"};
  app.add_option("--threads", o.threads, "threads (engine thread pool and OpenBLAS)")->capture_default_str();
  app.add_option("--min-length", o.min_length, "shortest sequence (doubling from here)")->capture_default_str();
  app.add_option("--max-length", o.max_length, "longest sequence")->capture_default_str();
  app.add_option("--max-exact-length", o.max_exact_length, "longest sequence for exact attention")
      ->capture_default_str();
  app.add_option("--time-cap", o.time_cap, "stop a method when its next step is predicted to take longer (s)")
      ->capture_default_str();
  app.add_option("--reps", o.reps, "timed steps per point (median)")->capture_default_str();
  app.add_option("--heads", o.heads, "layer study: heads H")->capture_default_str();
  app.add_option("--head-dim", o.head_dim, "layer study: head width d")->capture_default_str();
  app.add_option("--features", o.features, "layer study: random features M")->capture_default_str();
  app.add_option("--model-depth", o.model_depth, "model study: layers")->capture_default_str();
  app.add_option("--model-width", o.model_width, "model study: width")->capture_default_str();
  app.add_option("--model-heads", o.model_heads, "model study: heads")->capture_default_str();
  app.add_option("--model-features", o.model_features, "model study: random features per head")
      ->capture_default_str();
  app.add_option("--fit-from", o.fit_from, "fit slopes on L >= this")->capture_default_str();
  app.add_flag("--quick", o.quick, "smoke run: L 256..2048, exact up to 1024, 1 rep, time cap 2 s");
  app.add_flag("--skip-layer", o.skip_layer, "skip the attention-layer part");
  app.add_flag("--skip-model", o.skip_model, "skip the model part");
  app.add_option("--out", o.out, "also write the JSON lines to this file");
  app.add_option("--plot", o.plot, "write the SVG log-log plot to this file");
  CLI11_PARSE(app, argc, argv);
  if (o.quick) o.max_length = 2048, o.max_exact_length = 1024, o.reps = 1, o.time_cap = 2, o.fit_from = 256;
  try {
    if (o.min_length == 0 || o.max_length < o.min_length || o.reps < 1 || o.threads < 1 || !(o.time_cap > 0))
      throw std::invalid_argument(fmt::format("need 0 < --min-length <= --max-length, --reps >= 1, --threads >= 1, "
                                              "--time-cap > 0 (got {}, {}, {}, {}, {})",
                                              o.min_length, o.max_length, o.reps, o.threads, o.time_cap));
    set_num_threads(o.threads);
    o.peak_gflops = fma_peak(o.threads).gflops;
    tune_malloc_for_reuse();
    JsonLines json(o.out);
    json.emit(fmt::format("{{\"bench\":\"cost_study\",\"what\":\"settings\",\"threads\":{},\"reps\":{},"
                          "\"time_cap_s\":{},\"max_exact_length\":{},\"malloc\":\"tune_malloc_for_reuse (M_MMAP_MAX=0, "
                          "large M_TRIM_THRESHOLD)\",\"dtype\":\"float32\",\"peak_gflops\":{:.1f}}}",
                          o.threads, o.reps, o.time_cap, o.max_exact_length, o.peak_gflops));
    PlotFigure figure;
    figure.title = "Cost vs sequence length (log-log; least-squares slopes in the legends)";
    figure.columns = 2;
    for (const std::string part : {"layer", "model"}) {
      if ((part == "layer" && o.skip_layer) || (part == "model" && o.skip_model)) continue;
      const auto results = run_part(part, o, json);
      for (PlotPanel& panel : fit_and_plot(part, results, o, json)) figure.panels.push_back(std::move(panel));
    }
    if (!o.plot.empty()) write_svg(o.plot, figure);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cost_study: {}\n", e.what());
    return 1;
  }
  return 0;
}
