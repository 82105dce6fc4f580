// Side by side with PyTorch: the same math in our engine and in LibTorch autograd, same shapes,
// same input values (ours are copied into torch tensors), one process, repetitions interleaved
// (ours, torch, ours, torch, ...; median of each), one JSON object per line.
//
//   ./bench/vs_torch [--threads 2] [--lens 1024,2048,4096,8192] [--reps 3] [--torch-max-gb 16]
//                    [--only bidir|causal|exact|lm] [--lm-steps 6]
//   (bench/run_vs_torch.sh sets the malloc environment and runs it.)
//
// Rows ("what"):
//   favor_bidir   FAVOR+ bidirectional forward+backward from q, k, v (positive features, orthogonal
//                 W; query row-max, key slice-max stabilisers). Torch: phi(q) (phi(k)^T v) / normaliser.
//   favor_causal  causal FAVOR+ forward+backward. Ours: favor_causal_chunked (the model's kernel).
//                 Torch: cumulative sum of the outer products k'_i v_i^T (L M d states stored).
//   exact         softmax attention forward+backward. Ours: layers/exact_attention (blocked rows).
//                 Torch: softmax(Q K^T / sqrt(d)) V.
//   lm_train_step one AdamW training step (loss, backward, clip 1.0, step) of the same small
//                 Performer LM, torch's weights copied from ours; as tokens/s.
// Agreement: before timing, both run once on the same inputs and output seed; max_abs_diff_* is
// the largest |ours - torch| over the output and over every input gradient (rel = divided by the
// largest |torch| value of that tensor).
// Memory: ours_peak_bytes = our pool's peak live tensor bytes during the call minus the live bytes
// before it (engine/memory.hpp). torch_peak_bytes and ours_rss_peak_bytes = growth of the peak
// resident set during one call after returning free memory to the system (rss_probe.hpp), the
// one method that sees LibTorch's allocations; for lm_train_step both peaks are RSS growth.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <dlfcn.h>

#include <fmt/format.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "bench/bench_util.hpp"
#include "bench/vs_torch/rss_probe.hpp"
#include "bench/vs_torch/torch_reference.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/core/memory.hpp"
#include "engine/optim/optimizers.hpp"
#include "engine/core/random.hpp"
#include "layers/attention/exact_attention.hpp"
#include "layers/attention/favor_attention.hpp"
#include "layers/attention/feature_maps.hpp"
#include "layers/attention/random_projection.hpp"
#include "models/performer_lm.hpp"

using namespace pf;
namespace tr = pf::bench::torch_ref;

namespace {

struct Options {
  int threads = 2;
  std::vector<std::size_t> lens = {1024, 2048, 4096, 8192};
  int reps = 3;
  // Skip a torch case whose estimated peak is above this. 16 of this machine's 23 GB: enough for
  // the causal cumsum reference at L = 4096 (~13.4 GB), where the target is set.
  double torch_max_gb = 16;
  std::string only;          // bidir | causal | exact | lm (empty: all)
  int lm_steps = 6;          // timed LM steps per side
  std::size_t batch = 1, heads = 8, d = 64, m = 256;
};

// ---- conversions -------------------------------------------------------------------------

torch::Tensor to_torch(const Array<float>& a, bool requires_grad = false) {
  std::vector<std::int64_t> sizes(a.shape().begin(), a.shape().end());
  torch::Tensor t = torch::from_blob(const_cast<float*>(a.data()), sizes, torch::kFloat32).clone();
  return t.set_requires_grad(requires_grad);
}

torch::Tensor to_torch(const Indices& a) {
  std::vector<std::int64_t> sizes(a.shape().begin(), a.shape().end());
  return torch::from_blob(const_cast<std::int64_t*>(a.data()), sizes, torch::kInt64).clone();
}

struct Diff {
  double abs = 0, rel = 0;
};
Diff diff(const Array<float>& ours, const torch::Tensor& theirs) {
  const torch::Tensor t = theirs.detach().contiguous();
  const double scale = t.abs().max().item<double>();
  const double abs = (to_torch(ours) - t).abs().max().item<double>();
  return {abs, scale > 0 ? abs / scale : abs};
}
Diff worst(Diff a, Diff b) { return {std::max(a.abs, b.abs), std::max(a.rel, b.rel)}; }

std::string json_number(double x) { return std::isfinite(x) ? fmt::format("{:.6g}", x) : "null"; }

// ---- one attention case ------------------------------------------------------------------

using OursFn = std::function<Tensor<float>(const Tensor<float>&, const Tensor<float>&, const Tensor<float>&)>;
using TorchFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

struct Case {
  std::string what, ours_impl, torch_impl;
  OursFn ours;
  TorchFn theirs;
  double torch_bytes_estimate = 0;  // for the memory cap
  double gflop = 0;                  // forward+backward FLOPs (0: not counted)
};

void run_case(const Case& c, std::size_t len, const Options& o) {
  Rng rng(1000 + len);
  const Shape shape{o.batch, o.heads, len, o.d};
  Tensor<float> q = randn<float>(shape, rng, 1.0f, true), k = randn<float>(shape, rng, 1.0f, true);
  Tensor<float> v = randn<float>(shape, rng, 1.0f, true);
  const Array<float> seed = randn_array<float>(shape, rng);
  torch::Tensor tq = to_torch(q.value(), true), tk = to_torch(k.value(), true), tv = to_torch(v.value(), true);
  const torch::Tensor tseed = to_torch(seed);

  Tensor<float> ours_out;
  auto ours_step = [&](bool keep) {
    q.zero_grad(), k.zero_grad(), v.zero_grad();
    Tensor<float> out = c.ours(q, k, v);
    out.backward(seed);
    if (keep) ours_out = out.detach();
  };
  torch::Tensor torch_out;
  auto torch_step = [&](bool keep) {
    for (torch::Tensor* t : {&tq, &tk, &tv}) t->mutable_grad().reset();  // set_to_none, no accumulation
    torch::Tensor out = c.theirs(tq, tk, tv);
    out.backward(tseed);
    if (keep) torch_out = out.detach();
  };

  const double cap = o.torch_max_gb * 1e9;
  const bool torch_runs = c.torch_bytes_estimate <= cap;
  std::string head = fmt::format(
      "{{\"bench\":\"vs_torch\",\"what\":\"{}\",\"L\":{},\"B\":{},\"H\":{},\"d\":{},\"M\":{},\"threads\":{},"
      "\"torch_threads\":{},\"ours_impl\":\"{}\",\"torch_impl\":\"{}\"",
      c.what, len, o.batch, o.heads, o.d, c.what == "exact" ? 0 : o.m, o.threads, torch::get_num_threads(),
      c.ours_impl, c.torch_impl);

  // Our peak from the pool's counters, then from RSS growth (the method used for torch).
  ours_step(false);  // warm-up
  const std::size_t live_before = memory_stats().live_bytes;
  reset_peak_memory();
  ours_step(true);
  const std::size_t ours_peak = memory_stats().peak_live_bytes - live_before;
  const std::size_t ours_rss_peak = pf::bench::peak_rss_growth([&] { ours_step(false); });

  if (!torch_runs) {
    const double ours_s = pf::bench::median_seconds([&] { ours_step(false); }, o.reps, 0);
    fmt::print("{},\"ours_s\":{},\"torch_s\":null,\"ratio\":null,\"ours_peak_bytes\":{},\"ours_rss_peak_bytes\":{},"
               "\"torch_peak_bytes\":null,\"torch_skipped\":true,\"note\":\"torch estimated peak {:.1f} GB > "
               "--torch-max-gb {}\"}}\n",
               head, json_number(ours_s), ours_peak, ours_rss_peak, c.torch_bytes_estimate / 1e9, o.torch_max_gb);
    std::fflush(stdout);
    return;
  }

  // Agreement on the same inputs and output seed.
  torch_step(true);
  Diff out_diff = diff(ours_out.value(), torch_out), grad_diff;
  grad_diff = worst(worst(diff(q.grad(), tq.grad()), diff(k.grad(), tk.grad())), diff(v.grad(), tv.grad()));
  ours_out = Tensor<float>();
  torch_out = torch::Tensor();

  const std::size_t torch_peak = pf::bench::peak_rss_growth([&] { torch_step(false); });
  const auto [ours_s, torch_s] =
      pf::bench::interleaved_median_seconds([&] { ours_step(false); }, [&] { torch_step(false); }, o.reps, 1);
  std::string flops;
  if (c.gflop > 0)
    flops = fmt::format(",\"gflop\":{:.4g},\"ours_gflop_per_s\":{:.4g},\"torch_gflop_per_s\":{:.4g}", c.gflop,
                        c.gflop / ours_s, c.gflop / torch_s);
  fmt::print(
      "{},\"ours_s\":{},\"torch_s\":{},\"ratio\":{:.4g},\"ours_peak_bytes\":{},\"ours_rss_peak_bytes\":{},"
      "\"torch_peak_bytes\":{},\"peak_ratio_torch_over_ours\":{:.4g},\"max_abs_diff_out\":{:.3g},"
      "\"max_rel_diff_out\":{:.3g},\"max_abs_diff_grad\":{:.3g},\"max_rel_diff_grad\":{:.3g}{}}}\n",
      head, json_number(ours_s), json_number(torch_s), torch_s / ours_s, ours_peak, ours_rss_peak, torch_peak,
      double(torch_peak) / double(std::max<std::size_t>(ours_peak, 1)), out_diff.abs, out_diff.rel, grad_diff.abs,
      grad_diff.rel, flops);
  std::fflush(stdout);
}

// ---- the LM training step ----------------------------------------------------------------

void run_lm(const Options& o) {
  PerformerConfig config;  // the defaults of examples/train_text: 4 layers, width 128, 4 heads, m = 64
  config.attention = AttentionKernel::favor_positive;
  const std::size_t B = 16, L = config.context;
  const double lr = 2e-3, weight_decay = 0.01, clip = 1.0;
  PerformerLM<float> model(config);

  tr::PerformerLM theirs;
  theirs.depth = config.depth;
  theirs.heads = config.heads;
  theirs.tied = config.tie_embeddings;
  for (const auto& [name, t] : model.named_parameters()) theirs.parameters.emplace_back(name, to_torch(t.value(), true));
  for (std::size_t i = 0; i < config.depth; ++i) {
    const std::string name = fmt::format("stack.blocks.{}.attention.projection", i);
    for (const auto& [n, t] : model.named_buffers())
      if (n == name) theirs.projections.push_back(to_torch(t.value()));
  }
  if (theirs.projections.size() != config.depth)
    throw std::runtime_error(fmt::format("vs_torch: found {} projection buffers for {} layers", theirs.projections.size(),
                                         config.depth));
  const std::vector<torch::Tensor> torch_params = theirs.parameter_list();

  AdamOptions adam;
  adam.lr = lr;
  adam.weight_decay = weight_decay;
  AdamW<float> ours_opt(model.named_parameters(), adam);
  torch::optim::AdamW torch_opt(torch_params, torch::optim::AdamWOptions(lr).weight_decay(weight_decay));

  // Random byte sequences (the same batches for both); targets are the inputs shifted by one.
  Rng rng(99);
  auto make_batch = [&] {
    Indices inputs = Indices::from_shape({B, L}), targets = Indices::from_shape({B, L});
    for (std::size_t b = 0; b < B; ++b) {
      std::int64_t token = std::int64_t(rng.next_u64() % config.vocab);
      for (std::size_t i = 0; i < L; ++i) {
        inputs(b, i) = token;
        targets(b, i) = token = std::int64_t(rng.next_u64() % config.vocab);
      }
    }
    return std::pair<Indices, Indices>{inputs, targets};
  };
  std::vector<std::pair<Indices, Indices>> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(make_batch());
  std::vector<std::pair<torch::Tensor, torch::Tensor>> torch_batches;
  for (const auto& [x, y] : batches) torch_batches.emplace_back(to_torch(x), to_torch(y));

  std::size_t ours_next = 0, torch_next = 0;
  double ours_loss = 0, torch_loss = 0;
  auto ours_step = [&] {
    const auto& [x, y] = batches[ours_next++ % batches.size()];
    Tensor<float> loss = model.loss(x, y);
    ours_loss = loss.item();
    loss.backward();
    clip_grad_norm(model.named_parameters(), clip);
    ours_opt.step();
    ours_opt.zero_grad();
  };
  auto torch_step = [&] {
    const auto& [x, y] = torch_batches[torch_next++ % torch_batches.size()];
    torch::Tensor loss = theirs.loss(x, y);
    torch_loss = loss.item<double>();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(torch_params, clip);
    torch_opt.step();
    torch_opt.zero_grad();
  };

  // Agreement at the start: loss and every parameter gradient on the first batch.
  Diff grad_diff;
  {
    Tensor<float> loss = model.loss(batches[0].first, batches[0].second);
    loss.backward();
    torch::Tensor tloss = theirs.loss(torch_batches[0].first, torch_batches[0].second);
    tloss.backward();
    ours_loss = loss.item();
    torch_loss = tloss.item<double>();
    for (const auto& [name, t] : model.named_parameters()) grad_diff = worst(grad_diff, diff(t.grad(), theirs.at(name).grad()));
    ours_opt.zero_grad();
    torch_opt.zero_grad();
  }
  const double initial_loss = ours_loss, initial_loss_diff = std::abs(ours_loss - torch_loss);

  // Steady-state peaks (optimizer state exists after the warm-up step), then interleaved timing.
  ours_step();
  torch_step();
  const std::size_t live_before = memory_stats().live_bytes;
  reset_peak_memory();
  ours_step();
  const std::size_t ours_pool_peak = memory_stats().peak_live_bytes - live_before;
  torch_step();
  const std::size_t ours_peak = pf::bench::peak_rss_growth(ours_step);
  const std::size_t torch_peak = pf::bench::peak_rss_growth(torch_step);
  const auto [ours_s, torch_s] = pf::bench::interleaved_median_seconds(ours_step, torch_step, o.lm_steps, 0);
  const double tokens = double(B * L);
  std::size_t param_count = 0;
  for (const auto& p : torch_params) param_count += std::size_t(p.numel());
  fmt::print(
      "{{\"bench\":\"vs_torch\",\"what\":\"lm_train_step\",\"L\":{},\"batch\":{},\"layers\":{},\"width\":{},"
      "\"heads\":{},\"M\":{},\"ff\":{},\"vocab\":{},\"params\":{},\"tied_head\":{},\"optimizer\":\"AdamW lr {} wd {} "
      "clip {}\",\"threads\":{},\"torch_threads\":{},\"ours_impl\":\"PerformerLM (favor_causal_chunked)\","
      "\"torch_impl\":\"same architecture, causal FAVOR+ by cumsum\",\"ours_s\":{},\"torch_s\":{},\"ratio\":{:.4g},"
      "\"ours_tokens_per_s\":{:.6g},\"torch_tokens_per_s\":{:.6g},\"ours_peak_bytes\":{},\"ours_pool_peak_bytes\":{},"
      "\"torch_peak_bytes\":{},\"peak_ratio_ours_over_torch\":{:.4g},\"initial_loss\":{:.6g},"
      "\"initial_loss_abs_diff\":{:.3g},\"max_abs_diff_grad\":{:.3g},\"max_rel_diff_grad\":{:.3g},"
      "\"ours_loss_last\":{:.9g},\"torch_loss_last\":{:.9g},\"loss_abs_diff_after_{}_steps\":{:.3g}}}\n",
      L, B, config.depth, config.width, config.heads, config.features, config.ff_hidden, config.vocab, param_count,
      config.tie_embeddings, lr, weight_decay, clip, o.threads, torch::get_num_threads(), json_number(ours_s),
      json_number(torch_s), torch_s / ours_s, tokens / ours_s, tokens / torch_s, ours_peak, ours_pool_peak, torch_peak,
      double(ours_peak) / double(std::max<std::size_t>(torch_peak, 1)), initial_loss, initial_loss_diff, grad_diff.abs,
      grad_diff.rel, ours_loss, torch_loss, ours_next, std::abs(ours_loss - torch_loss));
  std::fflush(stdout);
}

// ---- flags -------------------------------------------------------------------------------

std::vector<std::size_t> parse_lens(const std::string& text) {
  std::vector<std::size_t> lens;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value == 0)
      throw std::invalid_argument(fmt::format("--lens: '{}' in '{}' is not a positive integer", item, text));
    lens.push_back(std::size_t(value));
  }
  if (lens.empty()) throw std::invalid_argument("--lens: empty list");
  return lens;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--lens") o.lens = parse_lens(next());
    else if (a == "--reps") o.reps = std::stoi(next());
    else if (a == "--torch-max-gb") o.torch_max_gb = std::stod(next());
    else if (a == "--only") o.only = next();
    else if (a == "--lm-steps") o.lm_steps = std::stoi(next());
    else if (a == "--help") {
      fmt::print("usage: vs_torch [--threads N] [--lens 1024,2048,...] [--reps R] [--torch-max-gb G] "
                 "[--only bidir|causal|exact|lm] [--lm-steps S]\n");
      std::exit(0);
    } else {
      throw std::invalid_argument("unknown flag '" + a + "' (see --help)");
    }
  }
  if (o.threads < 1) throw std::invalid_argument(fmt::format("--threads must be >= 1, got {}", o.threads));
  if (o.reps < 1 || o.lm_steps < 1)
    throw std::invalid_argument(fmt::format("--reps and --lm-steps must be >= 1, got {} and {}", o.reps, o.lm_steps));
  if (!o.only.empty() && o.only != "bidir" && o.only != "causal" && o.only != "exact" && o.only != "lm")
    throw std::invalid_argument("--only must be bidir, causal, exact or lm, got '" + o.only + "'");
  return o;
}

// The library the process's sgemm_ (what LibTorch's CPU matmuls call) resolves to: the same
// OpenBLAS as ours means pf::set_num_threads (which also sets OpenBLAS's threads) sizes torch's GEMMs too.
std::string blas_library() {
  void* symbol = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return "unknown";
  return info.dli_fname;
}

std::string env_or_unset(const char* name) {
  const char* value = std::getenv(name);
  return value ? fmt::format("\"{}\"", value) : "null";
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  // Threads first: LibTorch's inter-op pool can only be sized before it starts.
  at::set_num_interop_threads(o.threads);
  torch::set_num_threads(o.threads);
  set_num_threads(o.threads);
  torch::manual_seed(0);

  const bool rss_ok = pf::bench::reset_rss_high_water_mark();
  fmt::print(
      "{{\"bench\":\"vs_torch\",\"what\":\"settings\",\"torch_version\":\"{}\",\"threads\":{},\"torch_threads\":{},"
      "\"torch_interop_threads\":{},\"MALLOC_MMAP_MAX_\":{},\"MALLOC_TRIM_THRESHOLD_\":{},\"OPENBLAS_CORETYPE\":{},"
      "\"OPENBLAS_NUM_THREADS\":{},\"OMP_NUM_THREADS\":{},\"reps\":{},\"timing\":\"median of reps, ours and torch "
      "interleaved, after 1 warm-up each\",\"ours_peak_method\":\"engine/memory.hpp pool: peak live tensor bytes "
      "minus live bytes before\",\"rss_peak_method\":\"release pool cache + malloc_trim(0), write 5 to "
      "/proc/self/clear_refs, run once, VmHWM - VmRSS before\",\"clear_refs_works\":{},\"sgemm_library\":\"{}\"}}\n",
      TORCH_VERSION, o.threads, torch::get_num_threads(), at::get_num_interop_threads(), env_or_unset("MALLOC_MMAP_MAX_"),
      env_or_unset("MALLOC_TRIM_THRESHOLD_"), env_or_unset("OPENBLAS_CORETYPE"), env_or_unset("OPENBLAS_NUM_THREADS"),
      env_or_unset("OMP_NUM_THREADS"), o.reps, rss_ok, blas_library());
  std::fflush(stdout);
  if (!rss_ok) throw std::runtime_error("cannot reset VmHWM through /proc/self/clear_refs: torch peaks unmeasurable");

  RandomProjection<float> projection({o.m, o.d, ProjectionKind::orthogonal, RowNorm::chi}, 7);
  const Tensor<float> w = projection.matrix();
  const torch::Tensor tw = to_torch(w.value());
  const double query_eps = 1e-6;
  const double slices = double(o.batch * o.heads), M = double(o.m), d = double(o.d);

  std::vector<Case> cases;
  auto wanted = [&](const char* name) { return o.only.empty() || o.only == name; };
  for (std::size_t len : o.lens) {
    const double L = double(len);
    if (wanted("bidir")) {
      Case c{"favor_bidir", "positive_features + favor_bidirectional", "phi(q) (phi(k)^T v) / normaliser, autograd",
             [&](const Tensor<float>& q, const Tensor<float>& k, const Tensor<float>& v) {
               return favor_bidirectional(positive_features(q, w, Stabiliser::row_max, query_eps),
                                          positive_features(k, w, Stabiliser::slice_max, 0.0), v);
             },
             [&](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
               return tr::favor_bidirectional(tr::positive_features(q, tw, tr::KeyStabiliser::row_max, query_eps),
                                              tr::positive_features(k, tw, tr::KeyStabiliser::slice_max, 0.0), v);
             }};
      // Features, exponent temporaries and their gradients: 18.5 [L, M] per slice measured at L = 512.
      c.torch_bytes_estimate = 20 * slices * L * M * 4;
      // Feature maps 2 GEMMs forward + 2 backward (2 L m d each); attention 6 GEMM-shaped products
      // (2 L M (d+1) each) forward+backward: the count the 10.7 GFLOP at L=4096 refers to.
      c.gflop = slices * (8 * L * M * d + 12 * L * M * (d + 1)) / 1e9;
      run_case(c, len, o);
    }
    if (wanted("causal")) {
      Case c{"favor_causal", "positive_features + favor_causal_chunked", "cumsum of k'_i v_i^T outer products, autograd",
             [&](const Tensor<float>& q, const Tensor<float>& k, const Tensor<float>& v) {
               return favor_causal_chunked(positive_features(q, w, Stabiliser::row_max, query_eps),
                                           positive_features(k, w, Stabiliser::slice_max, 0.0), v);
             },
             [&](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
               return tr::favor_causal_cumsum(tr::positive_features(q, tw, tr::KeyStabiliser::row_max, query_eps),
                                              tr::positive_features(k, tw, tr::KeyStabiliser::slice_max, 0.0), v);
             }};
      // Outer products, prefix states, and the gradients of both (cumsum's backward flips and
      // copies): 6.2 [L, M, d] tensors per slice measured at L = 256 and 512, so ~13.4 GB at L = 4096.
      c.torch_bytes_estimate = 6.5 * slices * L * M * d * 4;
      run_case(c, len, o);
    }
    if (wanted("exact")) {
      Case c{"exact", "exact_attention (blocked rows)", "softmax(QK^T/sqrt(d))V, autograd",
             [](const Tensor<float>& q, const Tensor<float>& k, const Tensor<float>& v) {
               return exact_attention(q, k, v, false);
             },
             [](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
               return tr::exact_attention(q, k, v);
             }};
      // Scores, probabilities and their gradients plus temporaries: 5.6 [L, L] per slice measured
      // at L = 512; 8 leaves room (the issue saw > 16 GB at L = 8192 from Python).
      c.torch_bytes_estimate = 8 * slices * L * L * 4;
      run_case(c, len, o);
    }
  }
  if (wanted("lm")) run_lm(o);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "vs_torch: {}\n", e.what());
  return 2;
}
