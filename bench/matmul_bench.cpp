// The engine's matmul op (on its float GEMM backend: the packed xsimd GEMM unless
// PERFORMER_GEMM=blas) against direct cblas_sgemm calls on the same shapes, each timed in its own
// phase (medians), the OpenBLAS phase followed by a pause while its workers stop spinning.
// Prints one JSON object per line:
//   {"bench":"matmul","shape":"...","dtype":"f32","threads":2,"backend":"packed","pass":"fwd"|"fwdbwd",
//    "op_s":..,"sgemm_s":..,"ratio":sgemm_s/op_s,"op_gflops":..,"sgemm_gflops":..,"peak_gflops":..,
//    "peak_fraction":op_gflops/peak_gflops,"sgemm_peak_fraction":sgemm_gflops/peak_gflops}
// peak_gflops: the FMA probe's float32 peak at these threads (engine/kernels/peak_probe.hpp, as
// bench/roofline prints it), measured once before the products.
// Usage: matmul_bench [threads]
#include <cblas.h>

#include <fmt/format.h>

#include "bench_util.hpp"
#include "engine/kernels/gemm.hpp"
#include "engine/kernels/peak_probe.hpp"
#include "engine/ops/matmul.hpp"
#include "engine/core/memory.hpp"
#include "engine/core/random.hpp"

using namespace pf;

namespace {

struct Case {
  std::size_t batch, n, k, p;
};

void run_case(const Case& c, int threads, double peak_gflops) {
  Rng rng(42);
  const Shape sa = c.batch > 1 ? Shape{c.batch, c.n, c.k} : Shape{c.n, c.k};
  const Shape sb = c.batch > 1 ? Shape{c.batch, c.k, c.p} : Shape{c.k, c.p};
  Tensor<float> a = randn<float>(sa, rng, 1.0f, true), b = randn<float>(sb, rng, 1.0f, true);
  Array<float> out = empty_array<float>({c.batch * c.n * c.p}), da = empty_array<float>({c.batch * c.n * c.k}),
               db = empty_array<float>({c.batch * c.k * c.p});
  const int n = int(c.n), k = int(c.k), p = int(c.p);
  const double flops = 2.0 * c.batch * c.n * c.k * c.p;
  const int repeats = flops > 4e9 ? 5 : flops > 5e8 ? 11 : 31;

  // Raw BLAS: C = A B (forward); dA = G B^T, dB = A^T G (backward), into preallocated buffers.
  auto raw_forward = [&] {
    for (std::size_t s = 0; s < c.batch; ++s)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, p, k, 1.0f, a.data() + s * n * k, k,
                  b.data() + s * k * p, p, 0.0f, out.data() + s * n * p, p);
  };
  auto raw_backward = [&] {
    for (std::size_t s = 0; s < c.batch; ++s) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, p, 1.0f, out.data() + s * n * p, p,
                  b.data() + s * k * p, p, 0.0f, da.data() + s * n * k, k);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, p, n, 1.0f, a.data() + s * n * k, k,
                  out.data() + s * n * p, p, 0.0f, db.data() + s * k * p, p);
    }
  };
  auto op_forward = [&] {
    NoGradGuard no_grad;
    Tensor<float> c_out = matmul(a, b);
  };
  auto op_forward_backward = [&] {
    Tensor<float> c_out = matmul(a, b);
    c_out.backward(c_out.value());  // any seed of the right shape
  };
  // Not interleaved: after each cblas_sgemm, OpenBLAS's idle worker threads spin on the other
  // cores for a while, so a product timed right after one would share its cores with them.
  const auto [op_fwd, sgemm_fwd] = bench::phased_median_seconds(op_forward, raw_forward, repeats);
  const auto [op_fwdbwd, sgemm_fwdbwd] = bench::phased_median_seconds(
      op_forward_backward, [&] { raw_forward(); raw_backward(); }, repeats);

  const std::string shape = c.batch > 1 ? fmt::format("{}x{}x{}x{}", c.batch, c.n, c.k, c.p)
                                        : fmt::format("{}x{}x{}", c.n, c.k, c.p);
  for (auto [pass, op_s, raw_s] : {std::tuple{"fwd", op_fwd, sgemm_fwd}, std::tuple{"fwdbwd", op_fwdbwd, sgemm_fwdbwd}}) {
    const double pass_flops = std::string(pass) == "fwd" ? flops : 3 * flops;
    fmt::print("{{\"bench\":\"matmul\",\"shape\":\"{}\",\"dtype\":\"f32\",\"threads\":{},\"backend\":\"{}\","
               "\"pass\":\"{}\",\"op_s\":{:.6g},\"sgemm_s\":{:.6g},\"ratio\":{:.4f},\"op_gflops\":{:.2f},"
               "\"sgemm_gflops\":{:.2f},\"peak_gflops\":{:.1f},\"peak_fraction\":{:.4f},\"sgemm_peak_fraction\":{:.4f}}}\n",
               shape, threads, gemm_backend_name(gemm_backend()), pass, op_s, raw_s, raw_s / op_s,
               pass_flops / op_s / 1e9, pass_flops / raw_s / 1e9, peak_gflops, pass_flops / op_s / 1e9 / peak_gflops,
               pass_flops / raw_s / 1e9 / peak_gflops);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = bench::threads_from(argc, argv);
  tune_malloc_for_reuse();
  set_num_threads(threads);
  const double peak = fma_peak(threads).gflops;  // before any BLAS call: its idle threads may spin
  for (std::size_t s : {256, 512, 1024, 2048}) run_case({1, s, s, s}, threads, peak);
  run_case({8, 512, 64, 512}, threads, peak);
  // The shape of a Performer block's projection: [B*L, D] x [D, 3D] with B*L = 16*256.
  run_case({1, 4096, 128, 384}, threads, peak);
  // A chunked causal FAVOR+ block: per (batch, head) slice, 32 tokens x 64 features x 33 values.
  run_case({64, 32, 64, 33}, threads, peak);
  run_case({64, 256, 32, 64}, threads, peak);
  const MemoryStats m = memory_stats();
  fmt::print("{{\"bench\":\"matmul_memory\",\"fresh_allocations\":{},\"reused_allocations\":{}}}\n",
             m.fresh_allocations, m.reused_allocations);
}
