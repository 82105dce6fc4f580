// PerformerDecoder (the lean RNN step) against PerformerLM::forward, the full causal model, at
// every position: float64 to 1e-10, for every FAVOR kernel a config can name and every kind of
// positions; rows at different positions; prefill then steps; and a row's float32 result does not
// depend on how many rows step with it (what batched sampling relies on).
#include <cmath>
#include <cstring>

#include "models/performer_decoder.hpp"
#include "models/tiny_config.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

PerformerConfig decoder_config(const std::string& kernel, const std::string& positions) {
  PerformerConfig c = sized_config(11, 16, 2, 2, 24, 16, 8);
  c.attention = parse_attention_kernel(kernel);
  c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
  c.seed = 9;
  return c;
}

// Move every parameter off its initial value (zero biases, unit norms, small embeddings), so
// each one shows in the outputs.
template <class T>
void perturb(PerformerLM<T>& model) {
  Rng rng(77);
  for (auto& [name, p] : model.named_parameters())
    for (T& x : p.value()) x += T(0.3 * rng.normal());
}

}  // namespace

TEST_CASE("PerformerDecoder: lean steps equal the full forward at every position (float64)",
          "[models][decoder]") {
  for (const std::string kernel : {"favor-positive", "favor-hyperbolic", "favor-trig", "favor-relu"})
    for (const std::string positions : {"learned", "rotary", "sinusoidal", "none"}) {
      INFO(kernel << ", positions " << positions);
      const PerformerConfig c = decoder_config(kernel, positions);
      PerformerLM<double> model(c);
      perturb(model);
      model.eval();
      const std::size_t B = 3, L = 16, V = c.vocab;
      const Indices ids = random_ids(B, L, V, 5);
      const Tensor<double> full = model.forward(ids);
      PerformerDecoder<double> decoder(model, B);
      double worst = 0, scale = 0;
      for (std::size_t t = 0; t < L; ++t) {
        std::vector<std::int64_t> tokens(B);
        for (std::size_t b = 0; b < B; ++b) tokens[b] = ids(b, t);
        const double* logits = decoder.step(tokens.data(), 0, B);
        for (std::size_t b = 0; b < B; ++b)
          for (std::size_t v = 0; v < V; ++v) {
            const double want = full.data()[(b * L + t) * V + v];
            worst = std::max(worst, std::abs(logits[b * V + v] - want));
            scale = std::max(scale, std::abs(want));
          }
      }
      CHECK(scale > 0.1);  // the comparison is not between near-zero logits
      CHECK(worst < 1e-10);
      CHECK(decoder.position(0) == L);
    }
}

TEST_CASE("PerformerDecoder: rows at different positions, after a prefill, equal the full forward",
          "[models][decoder][prefill]") {
  for (const std::string positions : {"learned", "rotary"}) {
    INFO("positions " << positions);
    const PerformerConfig c = decoder_config("favor-positive", positions);
    PerformerLM<double> model(c);
    perturb(model);
    model.eval();
    const std::size_t L = 14, V = c.vocab, lead = 5;
    const Indices ids = random_ids(2, L, V, 8);
    const Tensor<double> full = model.forward(ids);
    PerformerDecoder<double> decoder(model, 2);
    // Row 1 takes its first `lead` tokens in one prefill; row 0 starts from the empty state.
    Indices head = Indices::from_shape({1, lead});
    for (std::size_t t = 0; t < lead; ++t) head(0, t) = ids(1, t);
    const Tensor<double> after_prefill = decoder.prefill(1, head);
    for (std::size_t v = 0; v < V; ++v)
      CHECK(std::abs(after_prefill.data()[v] - full.data()[(L + lead - 1) * V + v]) < 1e-10);
    double worst = 0;
    for (std::size_t t = 0; t + lead < L; ++t) {
      const std::int64_t tokens[2] = {ids(0, t), ids(1, t + lead)};
      const double* logits = decoder.step(tokens, 0, 2);
      for (std::size_t v = 0; v < V; ++v) {
        worst = std::max(worst, std::abs(logits[v] - full.data()[t * V + v]));
        worst = std::max(worst, std::abs(logits[V + v] - full.data()[(L + t + lead) * V + v]));
      }
    }
    CHECK(worst < 1e-10);
    CHECK(decoder.position(0) == L - lead);
    CHECK(decoder.position(1) == L);
  }
}

TEST_CASE("PerformerDecoder: a row's float32 logits do not depend on the rows stepping with it",
          "[models][decoder][batch]") {
  const PerformerConfig c = decoder_config("favor-positive", "learned");
  PerformerLM<float> model(c);
  perturb(model);
  model.eval();
  const Indices ids = random_ids(4, 10, c.vocab, 12);
  PerformerDecoder<float> together(model, 4), alone(model, 1);
  for (std::size_t t = 0; t < 10; ++t) {
    std::vector<std::int64_t> tokens(4);
    for (std::size_t b = 0; b < 4; ++b) tokens[b] = ids(b, t);
    const float* all = together.step(tokens.data(), 0, 4);
    const float* one = alone.step(&tokens[2], 0, 1);
    for (std::size_t v = 0; v < c.vocab; ++v) REQUIRE(all[2 * c.vocab + v] == one[v]);
  }
}

// Wide enough that every product has several pairs of panels and a partial last panel, so each
// row count 1 .. 13 goes through other row tiles (6 rows of one panel, 4 .. 1 rows of two, and the
// remainders 5 .. 1 after 6-row tiles, as the machine's registers allow) and panel groups; on 1
// and 2 threads (where each product, or the whole step, runs in two halves).
TEST_CASE("PerformerDecoder: float32 logits of a row are bit-identical for 1 .. 13 rows, 1 or 2 threads (the phased step)",
          "[models][decoder][batch]") {
  // favor-positive takes the phased 2-thread step; other kernels the per-product halves.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"favor-positive", "learned"}, {"favor-positive", "rotary"}, {"favor-hyperbolic", "learned"}};
  for (const auto& [kernel, positions] : cases) {
    INFO(kernel << ", positions " << positions);
    PerformerConfig c = sized_config(70, 64, 2, 2, 80, 16, 24);
    c.seed = 4;
    c.attention = parse_attention_kernel(kernel);
    c.positions = parse_name(name_table(PositionKind{}), positions, "positions");
    PerformerLM<float> model(c);
    perturb(model);
    model.eval();
    const std::size_t L = 6, most = 13;
    const Indices ids = random_ids(most, L, c.vocab, 21);
    PerformerDecoder<float> alone(model, 1);
    std::vector<std::vector<float>> want;  // row `most - 1`'s logits at every t, alone on 1 thread
    const ThreadsFor serial(1);
    for (std::size_t t = 0; t < L; ++t) {
      const std::int64_t token = ids(most - 1, t);
      const float* one = alone.step(&token, 0, 1);
      want.emplace_back(one, one + c.vocab);
    }
    for (const int threads : {1, 2}) {
      const ThreadsFor pool(threads);
      for (std::size_t rows = 1; rows <= most; ++rows) {
        INFO(rows << " rows, " << threads << " threads");
        PerformerDecoder<float> together(model, rows);
        for (std::size_t t = 0; t < L; ++t) {
          std::vector<std::int64_t> tokens(rows);
          for (std::size_t b = 0; b < rows; ++b) tokens[b] = ids(most - rows + b, t);  // the last row is row most-1
          const float* all = together.step(tokens.data(), 0, rows);
          for (std::size_t v = 0; v < c.vocab; ++v) REQUIRE(all[(rows - 1) * c.vocab + v] == want[t][v]);
        }
      }
    }
  }
}

TEST_CASE("PerformerDecoder: bad tokens, rows, positions and models are refused", "[models][decoder][errors]") {
  PerformerConfig c = decoder_config("favor-positive", "learned");
  c.context = 2;
  PerformerLM<float> model(c);
  PerformerDecoder<float> decoder(model, 2);
  const std::int64_t bad[2] = {11, 0}, good[2] = {1, 2};
  REQUIRE_THROWS_WITH(decoder.step(bad, 0, 2), Catch::Contains("token 11") && Catch::Contains("[0, 11)"));
  REQUIRE_THROWS_WITH(decoder.step(good, 1, 2), Catch::Contains("rows 1 .. 3 of 2"));
  decoder.step(good, 0, 2);
  decoder.step(good, 0, 2);
  REQUIRE_THROWS_WITH(decoder.step(good, 0, 2), Catch::Contains("position 2") && Catch::Contains("context 2"));
  decoder.reset_row(0);
  CHECK(decoder.position(0) == 0);
  CHECK_NOTHROW(decoder.step(good, 0, 1));
  c.attention = AttentionKernel::exact;
  PerformerLM<float> exact(c);
  REQUIRE_THROWS_WITH(PerformerDecoder<float>(exact, 1), Catch::Contains("FAVOR") && Catch::Contains("exact"));
}

// ---- float16 weight storage ------------------------------------------------------------------

namespace {

// The weights the decoder multiplies with, as Tensors sharing the model's storage: the Linear
// weights (q, k, v, out, feed-forward, the head) and, separately, the random projections.
template <class T>
std::vector<Tensor<T>> linear_weights(const PerformerLM<T>& model) {
  std::vector<Tensor<T>> out;
  for (std::size_t l = 0; l < model.stack().depth(); ++l) {
    const PerformerBlock<T>& block = model.stack().block(l);
    const MultiHeadAttention<T>& a = block.attention();
    const std::vector<const Linear<T>*> linears = {&a.q_projection(),   &a.k_projection(),
                                                   &a.v_projection(),   &a.out_projection(),
                                                   &block.feed_forward().layers().at(0),
                                                   &block.feed_forward().layers().at(1)};
    for (const Linear<T>* linear : linears) out.push_back(linear->weight());
  }
  out.push_back(model.head_weight());
  return out;
}

template <class T>
std::vector<Tensor<T>> projections(const PerformerLM<T>& model) {
  std::vector<Tensor<T>> out;
  for (std::size_t l = 0; l < model.stack().depth(); ++l) out.push_back(model.stack().block(l).attention().projection());
  return out;
}

// Every value of the tensors through f (in place).
template <class F>
void map_values(std::vector<Tensor<float>> tensors, F f) {
  for (Tensor<float>& t : tensors)
    for (std::size_t i = 0; i < t.numel(); ++i) t.data()[i] = f(t.data()[i]);
}

float to_float16_and_back(float x) { return float_from_float16(float16_from_float(x)); }

// bfloat16 by truncation: the top 16 bits of the float32 (8-bit mantissa, rounded toward zero).
float truncated_to_bfloat16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits &= 0xffff0000u;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// Logits [L, V] of stepping ids row 0, t = 0 .. L-1, through a fresh decoder.
std::vector<float> step_logits(const PerformerLM<float>& model, const Indices& ids, WeightStorage storage) {
  PerformerDecoder<float> decoder(model, 1, storage);
  std::vector<float> out;
  for (std::size_t t = 0; t < ids.shape()[1]; ++t) {
    const std::int64_t token = ids(0, t);
    const float* logits = decoder.step(&token, 0, 1);
    out.insert(out.end(), logits, logits + model.config().vocab);
  }
  return out;
}

}  // namespace

// Widening is exact, so float16 storage of a model whose multiplied weights are already float16
// values must give the float32 decoder's logits bit for bit (same kernels, same order of sums).
// Anything but an exact widening (a wrong exponent bias, a truncation, raw bits read as floats)
// breaks this.
TEST_CASE("PerformerDecoder: float16 storage of float16-valued weights equals float32 storage bit for bit",
          "[models][decoder][float16]") {
  for (const std::string positions : {"learned", "rotary"}) {
    INFO("positions " << positions);
    PerformerLM<float> model(decoder_config("favor-positive", positions));  // tied head: the token table
    perturb(model);
    model.eval();
    map_values(linear_weights(model), to_float16_and_back);
    map_values(projections(model), to_float16_and_back);
    const Indices ids = random_ids(1, 12, model.config().vocab, 31);
    const std::vector<float> wide = step_logits(model, ids, WeightStorage::float32);
    const std::vector<float> half = step_logits(model, ids, WeightStorage::float16);
    for (std::size_t v = 0; v < wide.size(); ++v) REQUIRE(half[v] == wide[v]);
  }
}

// The bound. Rounding a weight w to float16 changes it by delta with |delta| <= e = u |w|,
// u = 2^-11, for a normal result (e = 2^-25 for a subnormal one). To first order a logit l_v moves
// by S_v = sum_i g_i delta_i, g_i = dl_v/dw_i (the float64 model's gradients: the engine's backward
// of the full causal forward, for every position and logit), over every weight the decoder rounds. The
// worst case sum_i |g_i| e_i is far from reached (it needs every rounding aligned with its
// gradient, ~40x the real deviation here, so bfloat16 would pass it too). Modelling the rounding
// errors as independent, mean zero and bounded by e_i (the usual probabilistic model of rounding
// error), Hoeffding's inequality gives P(|S_v| > t) <= 2 exp(-t^2 / (2 sum_i g_i^2 e_i^2)); with
//   t_v = 5.4 sqrt(sum_i g_i^2 e_i^2)
// that probability is below 1e-6 per logit (1e-4 for the 110 of them). The second-order terms are O(u) relative (covered by
// the factor 1.25 on t); both float32 decoders also carry float32 evaluation error, bounded by
// twice the float32 decoder's measured distance to the float64 model. The random projections are
// made float16 values first (in both runs), so the sums run over the Linear weights only (the
// previous test covers the projections' widening).
// The test can fail: truncating the same weights to bfloat16 (relative error up to 2^-7, 16x u,
// all toward zero) must land outside the bound, and float16 must differ from float32 at all.
TEST_CASE("PerformerDecoder: float16 logits are within the derived rounding bound of float32 ones, bfloat16 ones are not",
          "[models][decoder][float16]") {
  PerformerConfig c = decoder_config("favor-positive", "learned");
  c.tie_embeddings = false;  // the head's own weight: its gradient is the head's alone
  PerformerLM<float> model(c);
  perturb(model);
  model.eval();
  map_values(projections(model), to_float16_and_back);
  // The same model in float64: parameters by name, projections by layer.
  PerformerLM<double> exact(c);
  exact.eval();
  {
    const auto from = model.named_parameters();
    auto to = exact.named_parameters();
    REQUIRE(from.size() == to.size());
    for (std::size_t i = 0; i < from.size(); ++i) {
      REQUIRE(from[i].first == to[i].first);
      for (std::size_t j = 0; j < from[i].second.numel(); ++j) to[i].second.data()[j] = from[i].second.data()[j];
    }
    std::vector<Tensor<float>> pf = projections(model);
    std::vector<Tensor<double>> pd = projections(exact);
    for (std::size_t l = 0; l < pf.size(); ++l)
      for (std::size_t j = 0; j < pf[l].numel(); ++j) pd[l].data()[j] = pf[l].data()[j];
  }
  const std::size_t L = 10, V = c.vocab;
  const Indices ids = random_ids(1, L, V, 17);
  const std::size_t N = L * V;  // every position's logits
  std::vector<double> squares(N, 0.0), exact_logits(N);
  const double u = std::ldexp(1.0, -11), subnormal = std::ldexp(1.0, -25);
  for (std::size_t v = 0; v < N; ++v) {
    exact.zero_grad();
    Tensor<double> logits = exact.forward(ids);  // [1, L, V]
    exact_logits[v] = logits.data()[v];
    Array<double> seed = filled_array<double>({1, L, V}, 0.0);
    seed.data()[v] = 1;
    logits.backward(seed);
    for (const Tensor<double>& w : linear_weights(exact))
      for (std::size_t i = 0; i < w.numel(); ++i)
        squares[v] += std::pow(w.grad().data()[i] * std::max(u * std::abs(w.data()[i]), subnormal), 2);
  }
  const std::vector<float> wide = step_logits(model, ids, WeightStorage::float32);
  const std::vector<float> half = step_logits(model, ids, WeightStorage::float16);
  double float32_error = 0;
  for (std::size_t v = 0; v < N; ++v) float32_error = std::max(float32_error, std::abs(wide[v] - exact_logits[v]));
  PerformerLM<float> truncated(c);
  {
    const auto from = model.named_parameters();
    auto to = truncated.named_parameters();
    for (std::size_t i = 0; i < from.size(); ++i)
      for (std::size_t j = 0; j < from[i].second.numel(); ++j) to[i].second.data()[j] = from[i].second.data()[j];
    std::vector<Tensor<float>> pf = projections(model), pt = projections(truncated);
    for (std::size_t l = 0; l < pf.size(); ++l) std::copy_n(pf[l].data(), pf[l].numel(), pt[l].data());
  }
  truncated.eval();
  map_values(linear_weights(truncated), truncated_to_bfloat16);
  const std::vector<float> bfloat = step_logits(truncated, ids, WeightStorage::float32);
  double worst_ratio = 0, bfloat_ratio = 0, largest = 0;
  for (std::size_t v = 0; v < N; ++v) {
    const double tolerance = 1.25 * 5.4 * std::sqrt(squares[v]) + 2 * float32_error;
    INFO("logit " << v << ": float16 - float32 = " << half[v] - wide[v] << ", bound " << tolerance);
    CHECK(std::abs(half[v] - wide[v]) <= tolerance);
    worst_ratio = std::max(worst_ratio, std::abs(half[v] - wide[v]) / tolerance);
    bfloat_ratio = std::max(bfloat_ratio, std::abs(bfloat[v] - wide[v]) / tolerance);
    largest = std::max(largest, double(std::abs(half[v] - wide[v])));
  }
  INFO("float16: worst |difference| / bound " << worst_ratio << "; truncated bfloat16: " << bfloat_ratio
                                              << "; float32 evaluation error " << float32_error);
  CHECK(largest > 0);        // the weights were rounded at all
  CHECK(bfloat_ratio > 1);   // a coarser storage does not pass
}

TEST_CASE("PerformerDecoder: float16 rows are bit-identical to one row alone, 1 or 2 threads",
          "[models][decoder][float16][batch]") {
  PerformerConfig c = sized_config(70, 64, 2, 2, 80, 16, 24);
  c.seed = 4;
  PerformerLM<float> model(c);
  perturb(model);
  model.eval();
  const std::size_t L = 5, most = 13;
  const Indices ids = random_ids(most, L, c.vocab, 23);
  std::vector<std::vector<float>> want;
  {
    const ThreadsFor serial(1);
    PerformerDecoder<float> alone(model, 1, WeightStorage::float16);
    for (std::size_t t = 0; t < L; ++t) {
      const std::int64_t token = ids(most - 1, t);
      const float* one = alone.step(&token, 0, 1);
      want.emplace_back(one, one + c.vocab);
    }
  }
  const std::vector<float> wide = [&] {
    PerformerDecoder<float> d(model, 1);
    const float* logits = nullptr;
    for (std::size_t t = 0; t < L; ++t) {
      const std::int64_t token = ids(most - 1, t);
      logits = d.step(&token, 0, 1);
    }
    return std::vector<float>(logits, logits + c.vocab);
  }();
  CHECK(wide != want.back());  // float16 storage is in use
  for (const int threads : {1, 2}) {
    const ThreadsFor pool(threads);
    for (std::size_t rows = 1; rows <= most; ++rows) {
      INFO(rows << " rows, " << threads << " threads");
      PerformerDecoder<float> together(model, rows, WeightStorage::float16);
      for (std::size_t t = 0; t < L; ++t) {
        std::vector<std::int64_t> tokens(rows);
        for (std::size_t b = 0; b < rows; ++b) tokens[b] = ids(most - rows + b, t);
        const float* all = together.step(tokens.data(), 0, rows);
        for (std::size_t v = 0; v < c.vocab; ++v) REQUIRE(all[(rows - 1) * c.vocab + v] == want[t][v]);
      }
    }
  }
}

TEST_CASE("PerformerDecoder: float16 storage refuses double decoders, weights past 65504 and bad names",
          "[models][decoder][float16][errors]") {
  const PerformerConfig c = decoder_config("favor-positive", "learned");
  PerformerLM<double> wide_model(c);
  REQUIRE_THROWS_WITH(PerformerDecoder<double>(wide_model, 1, WeightStorage::float16),
                      Catch::Contains("float16") && Catch::Contains("double"));
  CHECK_NOTHROW(PerformerDecoder<double>(wide_model, 1, WeightStorage::float32));
  PerformerLM<float> model(c);
  Tensor<float> w = model.stack().block(1).feed_forward().layers().at(0).weight();
  w.data()[3] = 70000.0f;
  REQUIRE_THROWS_WITH(PerformerDecoder<float>(model, 1, WeightStorage::float16),
                      Catch::Contains("block 1 feed-forward weight 1") && Catch::Contains("70000") &&
                          Catch::Contains("65504"));
  CHECK_NOTHROW(PerformerDecoder<float>(model, 1, WeightStorage::float32));
  w.data()[3] = 65504.0f;  // the largest float16 is kept
  CHECK_NOTHROW(PerformerDecoder<float>(model, 1, WeightStorage::float16));
  CHECK(parse_weight_storage("float16") == WeightStorage::float16);
  CHECK(std::string(weight_storage_name(parse_weight_storage("float32"))) == "float32");
  REQUIRE_THROWS_WITH(parse_weight_storage("bfloat16"), Catch::Contains("'bfloat16'"));
}
