// Goto/BLIS-style GEMM in three layers:
//   1. B is packed in blocks of KC rows into panels NR columns wide (a panel: KC x NR, k-major),
//   2. A is read in place, MR rows at a time (a ragged last panel is packed and zero-padded),
//   3. a micro-kernel keeps an MR x NR tile of C in vector registers and, for each k, adds
//      the outer product of one A panel column (MR broadcasts) and one B panel row (2 vectors).
// With AVX-512 (16 floats per vector) MR x NR = 12 x 32: 24 accumulators + 3 operands fill 27
// of the 32 registers, and each k does 24 FMAs for 2 loads and 12 broadcasts. The B panel
// (KC x NR = 32 KB) stays in L1 while the rows of A stream through.
// Edge tiles are zero-padded when packed, computed in full, and only their valid part stored.
#include "engine/kernels/packed_gemm.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include <xsimd/xsimd.hpp>

#include "engine/kernels/thread_pool.hpp"

namespace pf {
namespace {

using Vec = xsimd::batch<float>;
constexpr int W = int(Vec::size);
constexpr int NR = 2 * W;
constexpr int MR = W >= 16 ? 12 : 6;  // 16 vector registers below AVX-512: 12 accumulators
constexpr int KC = 256;
constexpr int MC = 8 * MR;  // A is read in place: MC only sets the parallel grain
constexpr int NC = 1024;
static_assert(NC % NR == 0 && MC % MR == 0, "blocks must hold whole panels");

// Products smaller than this run on the calling thread: waking a worker costs ~10 us.
constexpr double kMinFlopsPerThread = 2.0e6;

// A grow-only, 64-byte aligned scratch buffer per thread (packing never allocates in steady state).
float* scratch(std::size_t floats, int which) {
  struct Buffer {
    float* data = nullptr;
    std::size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[2];
  Buffer& b = buffers[which];
  if (b.size < floats) {
    std::free(b.data);
    b.data = static_cast<float*>(std::aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64));
    if (!b.data) throw std::bad_alloc();
    b.size = floats;
  }
  return b.data;
}

struct Operand {
  const float* data;
  int ld;
  bool trans;
};

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into ceil(mc/MR) panels of kc x MR.
void pack_a(const Operand& a, int i0, int mc, int p0, int kc, float* dst) {
  for (int ir = 0; ir < mc; ir += MR, dst += kc * MR) {
    const int rows = std::min(MR, mc - ir);
    if (a.trans) {  // op(A)(i, k) = A[k * lda + i]: each k reads `rows` contiguous values
      for (int k = 0; k < kc; ++k) {
        const float* src = a.data + std::size_t(p0 + k) * a.ld + (i0 + ir);
        float* d = dst + k * MR;
        std::memcpy(d, src, sizeof(float) * rows);
        std::fill(d + rows, d + MR, 0.0f);
      }
    } else {  // op(A)(i, k) = A[i * lda + k]: each row is contiguous in k
      for (int r = 0; r < rows; ++r) {
        const float* src = a.data + std::size_t(i0 + ir + r) * a.ld + p0;
        for (int k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
      }
      for (int r = rows; r < MR; ++r)
        for (int k = 0; k < kc; ++k) dst[k * MR + r] = 0.0f;
    }
  }
}

// Packs the NR-wide panel starting at column j of rows [p0, p0+kc) of op(B) (n columns remain).
void pack_b_panel(const Operand& b, int j, int n, int p0, int kc, float* dst) {
  const int cols = std::min(NR, n);
  if (b.trans) {  // op(B)(k, j) = B[j * ldb + k]: each column is contiguous in k
    for (int c = 0; c < cols; ++c) {
      const float* src = b.data + std::size_t(j + c) * b.ld + p0;
      for (int k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
    }
    for (int c = cols; c < NR; ++c)
      for (int k = 0; k < kc; ++k) dst[k * NR + c] = 0.0f;
  } else {  // op(B)(k, j) = B[k * ldb + j]: each k reads `cols` contiguous values
    for (int k = 0; k < kc; ++k) {
      const float* src = b.data + std::size_t(p0 + k) * b.ld + j;
      float* d = dst + k * NR;
      std::memcpy(d, src, sizeof(float) * cols);
      std::fill(d + cols, d + NR, 0.0f);
    }
  }
}

// C tile (rows x cols valid) = alpha * (A panel . B panel) + beta * C tile, using the first
// V vectors of each NR-wide B panel row (V = 1 for a ragged last panel of at most W columns,
// e.g. the 33rd column of [V, 1] in FAVOR+, so it does not cost a full panel).
// The A panel's element (i, k) is a[i * a_row + k * a_k]: a packed panel (a_row = 1, a_k = MR)
// or A read in place (full panels only; its MR rows are MR streams the prefetcher follows).
template <int V>
void micro_kernel(int kc, const float* a, int a_row, int a_k, const float* b, float* c, int ldc, int rows,
                  int cols, float alpha, float beta) {
  Vec acc[MR][V];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = Vec(0.0f);
  for (int k = 0; k < kc; ++k, a += a_k, b += NR) {
    Vec bk[V];
    for (int v = 0; v < V; ++v) bk[v] = Vec::load_aligned(b + v * W);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const Vec ai(a[i * a_row]);
      for (int v = 0; v < V; ++v) acc[i][v] = xsimd::fma(ai, bk[v], acc[i][v]);
    }
  }
  const Vec va(alpha), vb(beta);
  if (rows == MR && cols == V * W) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      float* ci = c + std::size_t(i) * ldc;
      for (int v = 0; v < V; ++v) {
        if (beta == 0.0f)
          (va * acc[i][v]).store_unaligned(ci + v * W);
        else
          xsimd::fma(va, acc[i][v], vb * Vec::load_unaligned(ci + v * W)).store_unaligned(ci + v * W);
      }
    }
    return;
  }
  alignas(64) float tile[MR][V * W];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) (va * acc[i][v]).store_aligned(tile[i] + v * W);
  for (int i = 0; i < rows; ++i) {
    float* ci = c + std::size_t(i) * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < cols; ++j) ci[j] = tile[i][j];
    else
      for (int j = 0; j < cols; ++j) ci[j] = tile[i][j] + beta * ci[j];
  }
}

void micro_kernel_any(int kc, const float* a, int a_row, int a_k, const float* b, float* c, int ldc, int rows,
                      int cols, float alpha, float beta) {
  if (cols <= W)
    micro_kernel<1>(kc, a, a_row, a_k, b, c, ldc, rows, cols, alpha, beta);
  else
    micro_kernel<2>(kc, a, a_row, a_k, b, c, ldc, rows, cols, alpha, beta);
}

// One work unit: rows [i0, i0+mc) x panels [jp0, jp1) of the packed B block. Full MR-row
// panels read A in place (packing A cost as much as the products when N is a few panels wide);
// only a ragged last panel is packed, zero-padded.
void compute_tile(const Operand& a, int i0, int mc, int p0, int kc, const float* packed_b, int j_base,
                  int n_block, int jp0, int jp1, float alpha, float beta, float* C, int ldc) {
  const int full_rows = mc / MR * MR;
  float* edge = nullptr;
  if (full_rows < mc) {
    edge = scratch(std::size_t(MR) * KC, 0);
    pack_a(a, i0 + full_rows, mc - full_rows, p0, kc, edge);
  }
  const int a_row = a.trans ? 1 : a.ld, a_k = a.trans ? a.ld : 1;
  for (int jp = jp0; jp < jp1; ++jp) {
    const int j = jp * NR;
    const int cols = std::min(NR, n_block - j);
    const float* bp = packed_b + std::size_t(jp) * kc * NR;
    for (int ir = 0; ir < full_rows; ir += MR) {
      const float* ap = a.trans ? a.data + std::size_t(p0) * a.ld + (i0 + ir) : a.data + std::size_t(i0 + ir) * a.ld + p0;
      micro_kernel_any(kc, ap, a_row, a_k, bp, C + std::size_t(i0 + ir) * ldc + j_base + j, ldc, MR, cols, alpha, beta);
    }
    if (edge)
      micro_kernel_any(kc, edge, 1, MR, bp, C + std::size_t(i0 + full_rows) * ldc + j_base + j, ldc, mc - full_rows,
                   cols, alpha, beta);
  }
}

void scale_c(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    float* ci = C + std::size_t(i) * ldc;
    if (beta == 0.0f)
      std::fill(ci, ci + N, 0.0f);
    else
      for (int j = 0; j < N; ++j) ci[j] *= beta;
  }
}

}  // namespace

void packed_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const Operand a{A, lda, trans_a};
  const Operand b{B, ldb, trans_b};
  const double flops = 2.0 * M * N * K;
  const int threads = inside_parallel_region() ? 1 : num_threads();
  const bool parallel = threads > 1 && flops >= 2 * kMinFlopsPerThread;

  for (int j0 = 0; j0 < N; j0 += NC) {
    const int nc = std::min(NC, N - j0);
    const int panels = (nc + NR - 1) / NR;
    for (int p0 = 0; p0 < K; p0 += KC) {
      const int kc = std::min(KC, K - p0);
      const float beta_block = p0 == 0 ? beta : 1.0f;
      float* packed_b = scratch(std::size_t(panels) * kc * NR, 1);
      const auto pack_panel = [&](std::size_t jp) {
        pack_b_panel(b, j0 + int(jp) * NR, nc - int(jp) * NR, p0, kc, packed_b + jp * std::size_t(kc) * NR);
      };
      const int row_blocks = (M + MC - 1) / MC;
      if (!parallel) {
        for (int jp = 0; jp < panels; ++jp) pack_panel(std::size_t(jp));
        for (int i0 = 0; i0 < M; i0 += MC)
          compute_tile(a, i0, std::min(MC, M - i0), p0, kc, packed_b, j0, nc, 0, panels, alpha, beta_block, C, ldc);
        continue;
      }
      parallel_for(std::size_t(panels), pack_panel);
      // Enough row blocks: one task per block. Few rows (e.g. M = 64 features): split columns too,
      // each task repacking its rows of A (cheap next to the kc x mc x 32-column products).
      const int col_groups = row_blocks >= 2 * threads ? 1 : std::min(panels, (2 * threads + row_blocks - 1) / row_blocks);
      const int panels_per_group = (panels + col_groups - 1) / col_groups;
      parallel_for(std::size_t(row_blocks) * col_groups, [&](std::size_t task) {
        const int rb = int(task) / col_groups, cg = int(task) % col_groups;
        const int i0 = rb * MC;
        const int jp0 = cg * panels_per_group, jp1 = std::min(panels, jp0 + panels_per_group);
        if (jp0 < jp1)
          compute_tile(a, i0, std::min(MC, M - i0), p0, kc, packed_b, j0, nc, jp0, jp1, alpha, beta_block, C, ldc);
      });
    }
  }
}

}  // namespace pf
