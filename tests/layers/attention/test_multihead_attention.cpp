#include <cmath>

#include "layers/attention/attention_fixtures.hpp"
#include "layers/attention/multihead_attention.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// A multi-head attention layer's config: 8 wide, 2 heads, 6 features unless told.
MultiHeadAttentionConfig small_config(AttentionKernel kernel, bool causal, std::size_t width = 8, std::size_t heads = 2,
                                      std::size_t features = 6) {
  MultiHeadAttentionConfig c;
  c.model_width = width;
  c.heads = heads;
  c.kernel = kernel;
  c.features = features;
  c.causal = causal;
  return c;
}

}  // namespace

// gradcheck of the whole layer (input and every parameter) for every kernel.
static void check_layer_gradients(bool causal) {
  const Mask mask = [] {
    Mask m = filled_array<std::uint8_t>({2, 5}, 0);
    m(1, 4) = m(1, 3) = 1;
    return m;
  }();
  for (AttentionKernel kernel : {AttentionKernel::exact, AttentionKernel::favor_positive, AttentionKernel::favor_hyperbolic,
                               AttentionKernel::favor_trig, AttentionKernel::favor_relu, AttentionKernel::favor_custom}) {
    Rng rng(1);
    auto cfg = small_config(kernel, causal);
    cfg.custom = softplus_fn();
    cfg.rotary = causal;  // exercise rotary on half the cases
    MultiHeadAttention<double> mha(cfg, rng);
    // Large enough inputs that attention is far from uniform, so q/k gradients are not tiny.
    // (Trig features grow like e^{|x|^2/2} and cross zero: keep its inputs moderate.)
    auto x = random_tensor({2, 5, 8}, 2, kernel == AttentionKernel::favor_trig ? 1.0 : 2.0);
    std::vector<Tensor<double>> inputs;
    inputs.push_back(x);
    for (const auto& [name, p] : mha.named_parameters())  // softmax is blind to a shift of all keys
      if (!(kernel == AttentionKernel::exact && name == "k_proj.bias")) inputs.push_back(p);
    const bool use_mask = kernel != AttentionKernel::favor_trig;  // trig: keep denominators away from 0
    INFO(attention_kernel_name(kernel) << " causal " << causal);
    GradcheckOptions opt;
    // ReLU features have kinks at u = 0: a small step keeps the differences on one side of them.
    if (kernel == AttentionKernel::favor_relu) opt.eps = 1e-5;
    const GradcheckResult r =
        gradcheck([&](const Vec& in) { return mha.forward(in[0], use_mask ? &mask : nullptr); }, inputs, opt);
    INFO(r.report());
    CHECK(r.passed);
  }
}

TEST_CASE("multi-head attention: gradcheck of the whole layer, bidirectional", "[layers][mha][gradcheck]") {
  check_layer_gradients(false);
}

TEST_CASE("multi-head attention: gradcheck of the whole layer, causal (rotary on)", "[layers][mha][gradcheck]") {
  check_layer_gradients(true);
}

TEST_CASE("multi-head attention: kernel names", "[layers][mha]") {
  for (const char* name : {"exact", "favor-positive", "favor-hyperbolic", "favor-trig", "favor-relu", "favor-custom",
                           "linformer", "reformer"})
    CHECK(attention_kernel_name(parse_attention_kernel(name)) == name);
  REQUIRE_THROWS_WITH(parse_attention_kernel("longformer"), Catch::Contains("longformer"));
}

TEST_CASE("multi-head attention: recurrent steps equal the causal forward (float32)", "[layers][mha][rnn]") {
  for (AttentionKernel kernel : {AttentionKernel::favor_positive, AttentionKernel::favor_relu}) {
    Rng rng(3);
    auto cfg = small_config(kernel, true, 32, 4, 32);
    cfg.rotary = true;
    cfg.chunk = 8;
    MultiHeadAttention<float> mha(cfg, rng);
    mha.eval();
    const std::size_t B = 2, L = 30;
    const auto x = to_float(random_tensor({B, L, 32}, 4));
    const Array<float> full = mha.forward(x).value();
    auto state = mha.initial_state(B);
    double worst = 0;
    for (std::size_t l = 0; l < L; ++l) {
      Array<float> xt = empty_array<float>({B, 32});
      for (std::size_t b = 0; b < B; ++b) std::copy_n(x.data() + (b * L + l) * 32, 32, xt.data() + b * 32);
      const auto y = mha.step(Tensor<float>(xt), state);
      for (std::size_t b = 0; b < B; ++b)
        for (std::size_t c = 0; c < 32; ++c)
          worst = std::max(worst, double(std::abs(y.data()[b * 32 + c] - full.data()[(b * L + l) * 32 + c])));
    }
    INFO(attention_kernel_name(kernel));
    CHECK(worst < 1e-5);
  }
  Rng rng(5);
  MultiHeadAttention<float> exact(small_config(AttentionKernel::exact, true), rng);
  REQUIRE_THROWS_WITH(exact.initial_state(1), Catch::Contains("FAVOR"));
}

TEST_CASE("multi-head attention: redraw schedule, and the projection is saved state", "[layers][mha]") {
  Rng rng(6);
  auto cfg = small_config(AttentionKernel::favor_positive, false);
  cfg.redraw_interval = 2;
  MultiHeadAttention<double> mha(cfg, rng);
  const auto x = random_tensor({1, 4, 8}, 7);
  std::vector<Array<double>> seen;
  for (int call = 0; call < 5; ++call) {
    mha.forward(x);
    seen.push_back(mha.projection().value());
  }
  CHECK((seen[0] == seen[1]));  // calls 1-2 share the first draw
  CHECK((seen[2] != seen[1]));  // call 3 redraws
  CHECK((seen[3] == seen[2]));
  CHECK((seen[4] != seen[3]));
  mha.eval();
  mha.forward(x);
  mha.forward(x);
  CHECK((mha.projection().value() == seen[4]));  // no redraws in eval mode
  // A fresh layer loaded from the state has the same W and redraws the same way.
  mha.train();
  const auto state = mha.named_state();
  NamedArrays<double> arrays;
  for (const auto& [name, t] : state) arrays.push_back({name, t.value()});
  Rng other(99);
  auto cfg2 = cfg;
  cfg2.projection_seed = 12345;
  MultiHeadAttention<double> copy(cfg2, other);
  copy.load_state(arrays);
  CHECK((copy.projection().value() == mha.projection().value()));
  CHECK(max_abs_diff(copy.forward(x).value(), mha.forward(x).value()) == 0.0);
  copy.forward(x);
  mha.forward(x);
  CHECK((copy.projection().value() == mha.projection().value()));
}

TEST_CASE("multi-head attention: padded tokens do not affect the others", "[layers][mha][mask]") {
  // Padding in the middle and at the start (not only the tail, where causality alone would keep
  // the earlier positions equal): with the mask, other values at the padded positions change no
  // unpadded output; without it, the same change moves them (so the check can fail).
  for (AttentionKernel kernel : {AttentionKernel::exact, AttentionKernel::favor_positive})
    for (bool causal : {false, true}) {
      INFO(attention_kernel_name(kernel) << " causal " << causal);
      Rng rng(8);
      MultiHeadAttention<double> mha(small_config(kernel, causal), rng);
      Mask mask = filled_array<std::uint8_t>({2, 6}, 0);
      mask(0, 1) = mask(0, 3) = 1;  // batch 0: two padded tokens between real ones
      mask(1, 0) = 1;               // batch 1: the first token padded
      auto x = random_tensor({2, 6, 8}, 9);
      auto x2 = Tensor<double>(x.value());
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t l = 0; l < 6; ++l)
          if (mask(b, l))
            for (std::size_t c = 0; c < 8; ++c) x2.value()(b, l, c) = 7.0;
      auto worst_unpadded = [&](const Mask* used) {
        const auto a = mha.forward(x, used).value(), b = mha.forward(x2, used).value();
        double worst = 0;
        for (std::size_t batch = 0; batch < 2; ++batch)
          for (std::size_t l = 0; l < 6; ++l)
            if (!mask(batch, l))
              for (std::size_t c = 0; c < 8; ++c) worst = std::max(worst, std::abs(a(batch, l, c) - b(batch, l, c)));
        return worst;
      };
      CHECK(worst_unpadded(&mask) < 1e-12);
      CHECK(worst_unpadded(nullptr) > 1e-3);  // the padded tokens do matter when not masked
    }
}

TEST_CASE("multi-head attention: float32 agrees with float64; shape errors", "[layers][mha][errors]") {
  Rng r64(10), r32(10);
  const auto cfg = small_config(AttentionKernel::favor_positive, true);
  MultiHeadAttention<double> m64(cfg, r64);
  MultiHeadAttention<float> m32(cfg, r32);
  const auto x = random_tensor({2, 7, 8}, 11);
  CHECK(max_mixed_error(m32.forward(to_float(x)).value(), m64.forward(x).value()) < 1e-5);
  REQUIRE_THROWS_WITH(m64.forward(random_tensor({2, 7, 6}, 12)),
                      Catch::Contains("MultiHeadAttention") && Catch::Contains("[2,7,6]"));
  const Mask bad = filled_array<std::uint8_t>({2, 5}, 0);
  REQUIRE_THROWS_WITH(m64.forward(x, &bad), Catch::Contains("[2,5]"));
  auto bad_cfg = cfg;
  bad_cfg.heads = 3;
  REQUIRE_THROWS_AS(MultiHeadAttention<double>(bad_cfg, r64), std::invalid_argument);
}
