// The engine's primitive ops on a training-sized activation ([16,256,128] float32 by default).
// Each op is timed interleaved with a plain copy of the same bytes (the memory-bandwidth floor),
// and fused ops also with their composite twin built from primitive ops.
// Prints one JSON object per line:
//   {"bench":"ops","op":"softmax","shape":"[16,256,128]","dtype":"f32","pass":"fwd"|"fwdbwd",
//    "op_s":..,"ref":"copy"|"composite","ref_s":..,"ratio":op_s/ref_s}
// Usage: ops_bench [threads] [op-name filter (substring)]
#include <cstring>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "engine/engine.hpp"

using namespace pf;

namespace {

using Fn = std::function<Tensor<float>(const Tensor<float>&)>;
std::string g_filter;

void report(const char* op, const Shape& shape, const char* pass, double op_s, const char* ref, double ref_s) {
  fmt::print("{{\"bench\":\"ops\",\"op\":\"{}\",\"shape\":\"{}\",\"dtype\":\"f32\",\"pass\":\"{}\","
             "\"op_s\":{:.6g},\"ref\":\"{}\",\"ref_s\":{:.6g},\"ratio\":{:.3f}}}\n",
             op, shape_str(shape), pass, op_s, ref, ref_s, op_s / ref_s);
}

// Times f(x) without the tape, and f(x) + backward, against `reference` (same passes).
void run(const char* op, const Tensor<float>& x_in, const Fn& f, const char* ref_name, const Fn& reference,
         int repeats) {
  if (std::string(op).find(g_filter) == std::string::npos) return;
  Tensor<float> x(x_in.value(), true);
  const Shape shape = x.shape();
  auto forward = [&](const Fn& g) {
    return [&] {
      NoGradGuard no_grad;
      Tensor<float> y = g(x);
    };
  };
  auto forward_backward = [&](const Fn& g) {
    return [&] {
      x.zero_grad();
      Tensor<float> y = g(x);
      y.backward();
    };
  };
  auto [f_s, r_s] = bench::interleaved_median_seconds(forward(f), forward(reference), repeats);
  report(op, shape, "fwd", f_s, ref_name, r_s);
  auto [fb_s, rb_s] = bench::interleaved_median_seconds(forward_backward(f), forward_backward(reference), repeats);
  report(op, shape, "fwdbwd", fb_s, ref_name, rb_s);
}

}  // namespace

int main(int argc, char** argv) {
  set_num_threads(bench::threads_from(argc, argv));
  if (argc > 2) g_filter = argv[2];
  const Shape shape{16, 256, 128};
  const std::size_t D = shape.back();
  const int repeats = 21;
  Rng rng(1);
  const Tensor<float> x = randn<float>(shape, rng);
  const Tensor<float> gamma = randn<float>({D}, rng), beta = randn<float>({D}, rng);
  Indices targets = empty_array<std::int64_t>({shape[0], shape[1]});
  for (std::size_t i = 0; i < targets.size(); ++i) targets.data()[i] = static_cast<std::int64_t>(rng.below(D));
  const Mask causal = causal_mask(128);

  // The floor: a copy of the same bytes through the tape (mul by 1 reads x, writes y).
  const Fn copy = [](const Tensor<float>& t) { return t * 1.0f; };
  run("permute_0_2_1", x, [](const Tensor<float>& t) { return permute(t, {0, 2, 1}); }, "copy", copy, repeats);
  // multi-head split [B, L, H, d] -> [B, H, L, d] with H = 4, d = 32: contiguous rows of d
  run("permute_heads", reshape(x, {16, 256, 4, 32}),
      [](const Tensor<float>& t) { return permute(t, {0, 2, 1, 3}); }, "copy", copy, repeats);
  run("transpose_0_1", x, [](const Tensor<float>& t) { return transpose(t, 0, 1); }, "copy", copy, repeats);
  run("slice_mid", x, [](const Tensor<float>& t) { return slice(t, 1, 64, 192); }, "copy", copy, repeats);
  run("concat_self", x, [](const Tensor<float>& t) { return concat<float>({t, t}, -1); }, "copy", copy, repeats);
  run("sum_last", x, [](const Tensor<float>& t) { return sum(t, -1); }, "copy", copy, repeats);
  run("sum_mid", x, [](const Tensor<float>& t) { return sum(t, 1); }, "copy", copy, repeats);
  run("cumsum_mid", x, [](const Tensor<float>& t) { return cumsum(t, 1); }, "copy", copy, repeats);
  // attention-score-like [B*H, L, L] with L = 128: the [L, L] mask broadcasts over the batch
  run("masked_fill_causal", reshape(x, {32, 128, 128}),
      [&](const Tensor<float>& t) { return masked_fill(t, causal, -1e9f); }, "copy", copy, repeats);
  run("dropout_0.1", x,
      [](const Tensor<float>& t) {
        Rng r(3);
        return dropout(t, 0.1, r, true);
      },
      "copy", copy, repeats);
  run("embedding", Tensor<float>(randn<float>({512, D}, rng).value()),
      [&](const Tensor<float>& table) { return embedding(table, targets); }, "copy",
      [](const Tensor<float>& t) { return concat<float>({t, t, t, t, t, t, t, t}, 0); },  // as many bytes out
      repeats);

  // Fused ops against the copy floor and against their composite twins.
  const Fn softmax_twin = [](const Tensor<float>& t) {
    auto e = pf::exp(t);
    return e / sum(e, -1, true);
  };
  const Fn log_softmax_twin = [](const Tensor<float>& t) { return t - pf::log(sum(pf::exp(t), -1, true)); };
  const Fn layer_norm_twin = [&](const Tensor<float>& t) {
    auto centred = t - mean(t, -1, true);
    return centred / pf::sqrt(mean(centred * centred, -1, true) + 1e-5f) * gamma + beta;
  };
  const Fn fused_softmax = [](const Tensor<float>& t) { return softmax(t); };
  const Fn fused_log_softmax = [](const Tensor<float>& t) { return log_softmax(t); };
  const Fn fused_layer_norm = [&](const Tensor<float>& t) { return layer_norm(t, gamma, beta); };
  const Fn fused_cross_entropy = [&](const Tensor<float>& t) { return cross_entropy(t, targets); };
  run("softmax", x, fused_softmax, "copy", copy, repeats);
  run("softmax", x, fused_softmax, "composite", softmax_twin, repeats);
  run("log_softmax", x, fused_log_softmax, "composite", log_softmax_twin, repeats);
  run("cross_entropy", x, fused_cross_entropy, "copy", copy, repeats);
  run("layer_norm", x, fused_layer_norm, "copy", copy, repeats);
  run("layer_norm", x, fused_layer_norm, "composite", layer_norm_twin, repeats);

  // The main job's feed-forward, x [16,256,128] -> 512 -> 128: affine (product + bias in one
  // op) and gelu_affine (GELU, product, bias) against the same steps as primitive ops. The
  // weights want gradients too, as in training.
  const std::size_t F = 4 * D;
  Tensor<float> w1(randn<float>({F, D}, rng).value(), true), b1(randn<float>({F}, rng).value(), true);
  Tensor<float> w2(randn<float>({D, F}, rng).value(), true), b2(randn<float>({D}, rng).value(), true);
  run("affine_128_512", x, [&](const Tensor<float>& t) { return affine(t, w1, &b1); }, "composite",
      [&](const Tensor<float>& t) { return matmul(t, transpose(w1, 0, 1)) + b1; }, repeats);
  const Tensor<float> u = randn<float>({shape[0], shape[1], F}, rng);
  run("gelu_512", u, [](const Tensor<float>& t) { return gelu(t); }, "copy", copy, repeats);
  run("gelu_affine_512_128", u, [&](const Tensor<float>& t) { return gelu_affine(t, w2, &b2); }, "composite",
      [&](const Tensor<float>& t) { return matmul(gelu(t), transpose(w2, 0, 1)) + b2; }, repeats);
  return 0;
}
