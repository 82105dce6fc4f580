// Attention speed and memory: exact softmax attention vs FAVOR+ (bidirectional, causal per-token,
// causal chunked), forward and forward+backward, one JSON object per line.
//
//   ./bench/attention_bench [--threads 2] [--max-len 16384] [--reps 3] [--chunk-scan]
//                           [--batch B --heads H --dim d --features M] [--impl NAME] [--len L]
//
// Shapes: B=1, H=8, d=64, M=256 positive (FAVOR+) features with orthogonal projections, float32,
// unless given (the main job's attention: --batch 16 --heads 4 --dim 32 --features 64 --len 256).
// --chunk-scan times the chunked causal form per block size at L = 1024 and 4096 (or at --len).
// FAVOR rows include both feature maps (queries row-stabilised, keys slice-stabilised), so the
// comparison with exact attention is end to end from q, k, v. Times are the minimum over reps.
// peak_bytes: the pool's peak of live tensor bytes during one forward+backward, minus the live
// bytes before it (inputs and the projection are excluded; their gradients are included).
// Utilisation: "fwdbwd_flops" counts the matrix products of forward + backward, feature maps
// included (models/performer_flops.hpp: attention_flops x B x H; causal FAVOR counts the same
// products as bidirectional), "gflops" = fwdbwd_flops / fwdbwd_s, "peak_gflops" the FMA probe's
// float32 peak at these threads (engine/kernels/peak_probe.hpp, as bench/roofline prints it) and
// "peak_fraction" = gflops / peak_gflops; "op_gflops" and "op_peak_fraction" the same for the
// attention op alone (without the feature maps' products).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include <fmt/format.h>

#include "engine/kernels/gemm.hpp"
#include "engine/kernels/peak_probe.hpp"
#include "engine/core/memory.hpp"
#include "engine/core/random.hpp"
#include "layers/attention/exact_attention.hpp"
#include "layers/attention/favor_attention.hpp"
#include "layers/attention/feature_maps.hpp"
#include "layers/attention/random_projection.hpp"
#include "models/performer_flops.hpp"

using namespace pf;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
  int threads = 2;
  std::size_t max_len = 16384;
  int reps = 3;
  bool chunk_scan = false;
  std::string only;      // run one impl (plus nothing else) when set
  std::size_t len = 0;   // run one length when set
  std::size_t batch = 1, heads = 8, d = 64, m = 256;
  double peak_gflops = 0;  // the FMA probe's peak at `threads`
};

struct Measurement {
  double fwd_s = 1e300, fwdbwd_s = 1e300;
  std::size_t peak_bytes = 0;
  // The attention op alone (FAVOR: on precomputed features, without the feature maps).
  double op_fwdbwd_s = 0;
  std::size_t op_peak_bytes = 0;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

using AttentionFn = std::function<Tensor<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&)>;

// Best-of-reps times and the peak over reps of fn(q, k, v). With w, q and k are replaced by
// their features (leaves), to time the attention op alone.
Measurement measure(const AttentionFn& fn, std::size_t len, const Config& cfg, const Tensor<float>* w = nullptr) {
  Rng rng(len);
  const Shape shape{cfg.batch, cfg.heads, len, cfg.d};
  auto q = randn<float>(shape, rng, 1.0f, true), k = randn<float>(shape, rng, 1.0f, true);
  auto v = randn<float>(shape, rng, 1.0f, true);
  if (w) {  // op-only: q', k' = features of random q, k, as leaves
    NoGradGuard no_grad;
    q = Tensor<float>(positive_features(q, *w, Stabiliser::row_max, 1e-4).value(), true);
    k = Tensor<float>(positive_features(k, *w, Stabiliser::slice_max, 0.0).value(), true);
  }
  const Array<float> seed = randn_array<float>(shape, rng);
  Measurement best;
  for (int rep = 0; rep < cfg.reps; ++rep) {
    auto t0 = Clock::now();
    { fn(q, k, v); }  // forward with the tape recorded (as in training), then dropped
    best.fwd_s = std::min(best.fwd_s, seconds_since(t0));
    q.zero_grad(), k.zero_grad(), v.zero_grad();
    const std::size_t baseline = memory_stats().live_bytes;
    reset_peak_memory();
    t0 = Clock::now();
    {
      Tensor<float> out = fn(q, k, v);
      out.backward(seed);
    }
    best.fwdbwd_s = std::min(best.fwdbwd_s, seconds_since(t0));
    best.peak_bytes = std::max(best.peak_bytes, memory_stats().peak_live_bytes - baseline);
  }
  return best;
}

// The products of one impl over all B x H slices (the exact rows are bidirectional).
FlopCount attention_count(const std::string& impl, std::size_t len, const Config& cfg) {
  const bool exact = impl == "exact", causal = impl.rfind("favor_causal", 0) == 0;
  return attention_flops(exact ? AttentionKernel::exact : AttentionKernel::favor_positive, causal, len, cfg.d, cfg.m)
      .scaled(double(cfg.batch * cfg.heads));
}

void print(const std::string& impl, std::size_t len, const Config& cfg, const Measurement& r, std::size_t chunk = 0,
           const std::string& note = "") {
  const FlopCount flops = attention_count(impl, len, cfg);
  const double gflops = flops.training() / r.fwdbwd_s / 1e9;
  std::string extra = fmt::format(",\"fwdbwd_flops\":{:.6g},\"gflops\":{:.2f},\"peak_gflops\":{:.1f},\"peak_fraction\":{:.4f}",
                                  flops.training(), gflops, cfg.peak_gflops, gflops / cfg.peak_gflops);
  if (r.op_fwdbwd_s > 0) {
    FlopCount op = flops;
    op.feature_maps = 0;
    const double op_gflops = op.training() / r.op_fwdbwd_s / 1e9;
    extra += fmt::format(",\"op_fwdbwd_s\":{:.6g},\"op_peak_bytes\":{},\"op_gflops\":{:.2f},\"op_peak_fraction\":{:.4f}",
                         r.op_fwdbwd_s, r.op_peak_bytes, op_gflops, op_gflops / cfg.peak_gflops);
  }
  if (chunk) extra += fmt::format(",\"chunk\":{}", chunk);
  if (!note.empty()) extra += fmt::format(",\"note\":\"{}\"", note);
  const double tokens = double(cfg.batch * len);
  fmt::print(
      "{{\"bench\":\"attention\",\"impl\":\"{}\",\"kernel\":\"{}\",\"L\":{},\"M\":{},\"d\":{},\"heads\":{},"
      "\"batch\":{},\"threads\":{},\"fwd_s\":{:.6g},\"fwdbwd_s\":{:.6g},\"peak_bytes\":{},"
      "\"fwdbwd_us_per_token\":{:.4g}{}}}\n",
      impl, impl == "exact" ? "softmax" : "positive", len, impl == "exact" ? 0 : cfg.m, cfg.d, cfg.heads, cfg.batch,
      cfg.threads, r.fwd_s, r.fwdbwd_s, r.peak_bytes, 1e6 * r.fwdbwd_s / tokens, extra);
  std::fflush(stdout);
}

void print_skip(const std::string& impl, std::size_t len, const Config& cfg, const std::string& why) {
  fmt::print(
      "{{\"bench\":\"attention\",\"impl\":\"{}\",\"kernel\":\"softmax\",\"L\":{},\"M\":0,\"d\":{},\"heads\":{},"
      "\"batch\":{},\"threads\":{},\"skipped\":true,\"reason\":\"{}\"}}\n",
      impl, len, cfg.d, cfg.heads, cfg.batch, cfg.threads, why);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") cfg.threads = std::atoi(next());
    else if (a == "--max-len") cfg.max_len = std::strtoull(next(), nullptr, 10);
    else if (a == "--reps") cfg.reps = std::atoi(next());
    else if (a == "--chunk-scan") cfg.chunk_scan = true;
    else if (a == "--impl") cfg.only = next();
    else if (a == "--len") cfg.len = std::strtoull(next(), nullptr, 10);
    else if (a == "--batch") cfg.batch = std::strtoull(next(), nullptr, 10);
    else if (a == "--heads") cfg.heads = std::strtoull(next(), nullptr, 10);
    else if (a == "--dim") cfg.d = std::strtoull(next(), nullptr, 10);
    else if (a == "--features") cfg.m = std::strtoull(next(), nullptr, 10);
    else {
      fmt::print(stderr, "usage: attention_bench [--threads N] [--max-len L] [--reps R] [--chunk-scan] [--impl NAME --len L] "
                         "[--batch B --heads H --dim d --features M]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (cfg.batch == 0 || cfg.heads == 0 || cfg.d == 0 || cfg.m == 0 || cfg.threads <= 0 || cfg.reps <= 0) {
    fmt::print(stderr, "attention_bench: --batch, --heads, --dim, --features, --threads and --reps must be positive\n");
    return 2;
  }
  set_num_threads(cfg.threads);
  cfg.peak_gflops = fma_peak(cfg.threads).gflops;
  tune_malloc_for_reuse();
  RandomProjection<float> projection({cfg.m, cfg.d, ProjectionKind::orthogonal, RowNorm::chi}, 7);
  const Tensor<float> w = projection.matrix();
  const double eps = 1e-4;
  auto favor = [&](auto attention) -> AttentionFn {
    return [&, attention](const Tensor<float>& q, const Tensor<float>& k, const Tensor<float>& v) {
      return attention(positive_features(q, w, Stabiliser::row_max, eps),
                       positive_features(k, w, Stabiliser::slice_max, eps), v);
    };
  };
  const AttentionFn bidir = favor([](auto q, auto k, auto v) { return favor_bidirectional(q, k, v); });
  const AttentionFn causal = favor([](auto q, auto k, auto v) { return favor_causal(q, k, v); });
  auto chunked_with = [&](std::size_t c) {
    return favor([c](auto q, auto k, auto v) { return favor_causal_chunked(q, k, v, nullptr, c); });
  };
  const AttentionFn exact = [](const Tensor<float>& q, const Tensor<float>& k, const Tensor<float>& v) {
    return exact_attention(q, k, v, false);
  };
  // Attention ops alone, on feature leaves.
  const std::map<std::string, AttentionFn> ops = {
      {"favor_bidir", [](auto q, auto k, auto v) { return favor_bidirectional(q, k, v); }},
      {"favor_causal", [](auto q, auto k, auto v) { return favor_causal(q, k, v); }},
      {"favor_causal_chunked", [](auto q, auto k, auto v) { return favor_causal_chunked(q, k, v); }},
      {"favor_causal_naive", [](auto q, auto k, auto v) { return favor_causal_naive(q, k, v); }}};
  // Full measurement plus the op-only numbers.
  auto run = [&](const std::string& impl, const AttentionFn& fn, std::size_t len, const Config& c) {
    Measurement r = measure(fn, len, c);
    if (ops.count(impl)) {
      const Measurement op = measure(ops.at(impl), len, c, &w);
      r.op_fwdbwd_s = op.fwdbwd_s;
      r.op_peak_bytes = op.peak_bytes;
    }
    return r;
  };

  if (cfg.chunk_scan) {
    const std::vector<std::size_t> lengths = cfg.len ? std::vector<std::size_t>{cfg.len} : std::vector<std::size_t>{1024, 4096};
    for (std::size_t len : lengths)
      for (std::size_t c : {8, 16, 32, 64, 128, 256}) print("favor_causal_chunked", len, cfg, measure(chunked_with(c), len, cfg), c);
    return 0;
  }
  if (!cfg.only.empty()) {
    const std::size_t len = cfg.len ? cfg.len : 4096;
    const std::map<std::string, AttentionFn> impls = {{"exact", exact},
                                                      {"favor_bidir", bidir},
                                                      {"favor_causal", causal},
                                                      {"favor_causal_chunked", chunked_with(kFavorDefaultChunk)}};
    if (!impls.count(cfg.only)) {
      fmt::print(stderr, "unknown impl {}\n", cfg.only);
      return 2;
    }
    print(cfg.only, len, cfg, measure(impls.at(cfg.only), len, cfg));
    return 0;
  }
  std::map<std::pair<std::string, std::size_t>, Measurement> results;
  const AttentionFn naive = favor([](auto q, auto k, auto v) { return favor_causal_naive(q, k, v); });
  for (std::size_t len = 256; len <= cfg.max_len; len *= 2) {
    if (len <= 8192) {
      Config c = cfg;
      if (len >= 4096) c.reps = 1;  // seconds per run already
      results[{"exact", len}] = measure(exact, len, c);
      print("exact", len, c, results[{"exact", len}]);
    } else {
      const double t = results.count({"exact", len / 2}) ? results[{"exact", len / 2}].fwdbwd_s : 0;
      print_skip("exact", len, cfg,
                 fmt::format("O(L^2) time: ~4x the L={} fwd+bwd ({:.0f} s), ~{:.0f} s per run; skipped", len / 2, t,
                             4 * t));
    }
    for (const auto& [impl, fn] : {std::pair<std::string, AttentionFn>{"favor_bidir", bidir},
                                   {"favor_causal", causal},
                                   {"favor_causal_chunked", chunked_with(kFavorDefaultChunk)}}) {
      results[{impl, len}] = run(impl, fn, len, cfg);
      print(impl, len, cfg, results[{impl, len}], impl == "favor_causal_chunked" ? kFavorDefaultChunk : 0);
    }
    if (len <= 512) {  // the naive cumsum twin stores all L prefix states: O(L M dv) memory
      Config c = cfg;
      c.reps = 1;
      print("favor_causal_naive", len, c, run("favor_causal_naive", naive, len, c), 0,
            "autodiff through cumsum of K'^T V outer products (all L states stored); only L <= 512");
    }
  }
  // The targets, as ratios from this run.
  const std::size_t ref = 4096;
  if (results.count({"favor_bidir", ref})) {
    const auto& b = results[{"favor_bidir", ref}];
    const auto& c = results[{"favor_causal_chunked", ref}];
    const auto& t = results[{"favor_causal", ref}];
    const auto& e = results[{"exact", ref}];
    auto per_token = [&](const char* impl, std::size_t len) { return results[{impl, len}].fwdbwd_s / double(len); };
    auto fraction_of_peak = [&](const char* impl, const Measurement& r) {
      return attention_count(impl, ref, cfg).training() / r.fwdbwd_s / 1e9 / cfg.peak_gflops;
    };
    const std::size_t top = std::min<std::size_t>(cfg.max_len, 16384);
    fmt::print(
        "{{\"bench\":\"attention_targets\",\"L\":{},\"chunked_over_bidir_fwdbwd\":{:.3f},"
        "\"per_token_over_bidir_fwdbwd\":{:.3f},\"chunked_over_bidir_peak\":{:.3f},"
        "\"per_token_over_bidir_peak\":{:.3f},\"chunked_over_bidir_op_peak\":{:.3f},"
        "\"per_token_over_bidir_op_peak\":{:.3f},\"exact_over_bidir_fwdbwd\":{:.2f},"
        "\"exact_over_chunked_fwdbwd\":{:.2f},\"bidir_per_token_time_{}_over_1024\":{:.3f},"
        "\"chunked_per_token_time_{}_over_1024\":{:.3f},\"bidir_peak_fraction\":{:.4f},"
        "\"chunked_peak_fraction\":{:.4f},\"peak_gflops\":{:.1f}}}\n",
        ref, c.fwdbwd_s / b.fwdbwd_s, t.fwdbwd_s / b.fwdbwd_s, double(c.peak_bytes) / b.peak_bytes,
        double(t.peak_bytes) / b.peak_bytes, double(c.op_peak_bytes) / b.op_peak_bytes,
        double(t.op_peak_bytes) / b.op_peak_bytes, e.fwdbwd_s / b.fwdbwd_s, e.fwdbwd_s / c.fwdbwd_s, top,
        per_token("favor_bidir", top) / per_token("favor_bidir", 1024), top,
        per_token("favor_causal_chunked", top) / per_token("favor_causal_chunked", 1024),
        fraction_of_peak("favor_bidir", b), fraction_of_peak("favor_causal_chunked", c), cfg.peak_gflops);
  }
  return 0;
}
