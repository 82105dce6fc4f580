// Goto/BLIS-style GEMM in three layers:
//   1. B is packed in blocks of KC rows x NC columns into panels NR columns wide (a panel:
//      KC x NR, k-major),
//   2. A is read in place MR rows at a time, or, when transposed (op(A)'s rows are then strided
//      runs), packed in blocks of kMcPacked x KC into MR-row panels; a ragged last panel is
//      always packed and zero-padded,
//   3. a micro-kernel keeps an MR x NR tile of C in vector registers and, for each k, adds
//      the outer product of one A panel column (MR broadcasts) and one B panel row (2 vectors).
// With AVX-512 (16 floats per vector) MR x NR = 12 x 32: 24 accumulators + 3 operands fill 27
// of the 32 registers, and each k does 24 FMAs for 2 loads and 12 broadcasts.
// Edge tiles are zero-padded when packed, computed in full, and only their valid part stored.
// Threads: the output is cut into a grid of cells (row groups x column groups, by a cost model:
// one cell per thread for large products, up to four for small ones), each running the whole K
// loop, so the sum over k of every C element runs in the same order, K block after K block,
// whatever the thread count and the grid.
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
constexpr int KC = 384;  // B panel KC x NR = 48 KB: streams from L2 with the A rows (C is revisited K / KC times)
constexpr int MC = 8 * MR;          // rows per block when A is read in place
constexpr int kMcPacked = 16 * MR;  // rows per packed A block: 192 x 384 floats = 288 KB of L2
// A task's C block from this many floats (1 MB) on is taken to be out of cache between K blocks.
constexpr std::size_t kPrefetchCFloats = std::size_t(1) << 18;
constexpr int NC = 768;  // KC x NC of packed B = 1.1 MB, about one L2
static_assert(NC % NR == 0 && MC % MR == 0 && kMcPacked % MR == 0, "blocks must hold whole panels");

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
  if (a.trans) {  // op(A)(i, k) = A[k * lda + i]: each k reads mc contiguous values
    for (int k = 0; k < kc; ++k) {
      const float* src = a.data + std::size_t(p0 + k) * a.ld + i0;
      float* d = dst + k * MR;
      int ir = 0;
      // A fixed-length memcpy is two vector moves; GCC left the element loop as 12 scalar ones.
      for (; ir + MR <= mc; ir += MR, d += std::size_t(kc) * MR) std::memcpy(d, src + ir, sizeof(float) * MR);
      if (ir < mc) {
        for (int r = 0; r < mc - ir; ++r) d[r] = src[ir + r];
        for (int r = mc - ir; r < MR; ++r) d[r] = 0.0f;
      }
    }
    return;
  }
  for (int ir = 0; ir < mc; ir += MR, dst += kc * MR) {  // op(A)(i, k) = A[i * lda + k]: rows contiguous in k
    const int rows = std::min(MR, mc - ir);
    for (int r = 0; r < rows; ++r) {
      const float* src = a.data + std::size_t(i0 + ir + r) * a.ld + p0;
      for (int k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
    }
    for (int r = rows; r < MR; ++r)
      for (int k = 0; k < kc; ++k) dst[k * MR + r] = 0.0f;
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
  } else if (cols == NR) {  // op(B)(k, j) = B[k * ldb + j]: each k reads NR contiguous values
    for (int k = 0; k < kc; ++k) {
      const float* src = b.data + std::size_t(p0 + k) * b.ld + j;
      for (int v = 0; v < NR / W; ++v) Vec::load_unaligned(src + v * W).store_aligned(dst + k * NR + v * W);
    }
  } else {  // a ragged panel: plain loops (a memcpy and a fill per k cost more than the copy)
    const int width = cols <= W ? W : NR;  // the kernel reads only the first vector of a V = 1 panel
    for (int k = 0; k < kc; ++k) {
      const float* src = b.data + std::size_t(p0 + k) * b.ld + j;
      float* d = dst + k * NR;
      for (int c = 0; c < cols; ++c) d[c] = src[c];
      for (int c = cols; c < width; ++c) d[c] = 0.0f;
    }
  }
}

// C tile (rows x cols valid) = alpha * (A panel . B panel) + beta * C tile, using the first
// V vectors of each NR-wide B panel row (V = 1 for a ragged last panel of at most W columns,
// e.g. the 33rd column of [V, 1] in FAVOR+, so it does not cost a full panel).
// The A panel's element (i, k) is a[i * a_row + k * a_k]: a packed panel (kPacked: a_row = 1,
// a_k = MR, known to the compiler) or A read in place (full panels only).
// Edge tiles round alpha * acc + beta * c differently from full tiles; that is thread-count
// independent because tile edges fall at multiples of MR and NR from the origin in every split.
// A non-null bias (the tile's first column of it) is added to every row last, as a separate
// rounding step: with alpha = 1 the values equal the product followed by a row add.
template <int V, bool kPacked>
void micro_kernel(int kc, const float* a, int a_row, int a_k, const float* b, float* c, int ldc, int rows,
                  int cols, float alpha, float beta, const float* bias, bool prefetch_c) {
  if (kPacked) a_row = 1, a_k = MR;
  // The C tile is read (beta != 0) or written once at the end: when C is bigger than the caches
  // (a K-blocked product revisits it once per KC), fetch its lines now so the end does not stall.
  if (prefetch_c)
    for (int i = 0; i < rows; ++i)
      for (int v = 0; v < V; ++v) __builtin_prefetch(c + std::size_t(i) * ldc + v * W, 1);
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
    Vec bias_v[V];
    for (int v = 0; v < V; ++v) bias_v[v] = bias ? Vec::load_unaligned(bias + v * W) : Vec(0.0f);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      float* ci = c + std::size_t(i) * ldc;
      for (int v = 0; v < V; ++v) {
        Vec value = beta == 0.0f ? va * acc[i][v] : xsimd::fma(va, acc[i][v], vb * Vec::load_unaligned(ci + v * W));
        if (bias) value += bias_v[v];
        value.store_unaligned(ci + v * W);
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
    if (bias)
      for (int j = 0; j < cols; ++j) ci[j] += bias[j];
  }
}

void micro_kernel_any(int kc, const float* a, int a_row, int a_k, const float* b, float* c, int ldc, int rows,
                      int cols, float alpha, float beta, const float* bias, bool prefetch_c) {
  if (cols <= W)
    micro_kernel<1, false>(kc, a, a_row, a_k, b, c, ldc, rows, cols, alpha, beta, bias, prefetch_c);
  else
    micro_kernel<2, false>(kc, a, a_row, a_k, b, c, ldc, rows, cols, alpha, beta, bias, prefetch_c);
}

void micro_kernel_packed(int kc, const float* a, const float* b, float* c, int ldc, int rows, int cols, float alpha,
                         float beta, const float* bias, bool prefetch_c) {
  if (cols <= W)
    micro_kernel<1, true>(kc, a, 1, MR, b, c, ldc, rows, cols, alpha, beta, bias, prefetch_c);
  else
    micro_kernel<2, true>(kc, a, 1, MR, b, c, ldc, rows, cols, alpha, beta, bias, prefetch_c);
}

// The last panel when it holds a single column (the ones column of FAVOR+'s [V, 1], dv + 1 = 33
// or 65): a V = 1 micro-kernel spends MR broadcasts and MR FMAs per k on it, one useful lane in
// each. Here it is a matrix-vector product: for A read in place (rows contiguous in k) each row
// is a dot product over k; for a packed panel the MR rows are the lanes of one vector per k (the
// lanes past MR read the next k's values, inside the buffer's W spare floats, and are dropped).
// b holds the column's kc values, contiguous. Each sum runs over k in an order set by kc alone.
void single_column(int kc, const float* a, bool packed, int lda, const float* b, float* c, int ldc, int rows,
                   float alpha, float beta, const float* bias) {
  float sums[MR];
  if (packed) {
    Vec acc[4] = {Vec(0.0f), Vec(0.0f), Vec(0.0f), Vec(0.0f)};  // 4 chains in flight
    int k = 0;
    for (; k + 4 <= kc; k += 4)
      for (int u = 0; u < 4; ++u)
        acc[u] = xsimd::fma(Vec::load_unaligned(a + std::size_t(k + u) * MR), Vec(b[k + u]), acc[u]);
    for (; k < kc; ++k) acc[0] = xsimd::fma(Vec::load_unaligned(a + std::size_t(k) * MR), Vec(b[k]), acc[0]);
    alignas(64) float lanes[W];
    ((acc[0] + acc[1]) + (acc[2] + acc[3])).store_aligned(lanes);
    for (int i = 0; i < rows; ++i) sums[i] = lanes[i];
  } else {
    for (int i = 0; i < rows; ++i) {
      const float* ai = a + std::size_t(i) * lda;
      Vec acc0(0.0f), acc1(0.0f);
      int k = 0;
      for (; k + 2 * W <= kc; k += 2 * W) {
        acc0 = xsimd::fma(Vec::load_unaligned(ai + k), Vec::load_unaligned(b + k), acc0);
        acc1 = xsimd::fma(Vec::load_unaligned(ai + k + W), Vec::load_unaligned(b + k + W), acc1);
      }
      for (; k + W <= kc; k += W) acc0 = xsimd::fma(Vec::load_unaligned(ai + k), Vec::load_unaligned(b + k), acc0);
      float sum = xsimd::hadd(acc0 + acc1);
      for (; k < kc; ++k) sum += ai[k] * b[k];
      sums[i] = sum;
    }
  }
  for (int i = 0; i < rows; ++i) {
    float& ci = c[std::size_t(i) * ldc];
    const float value = alpha * sums[i];
    ci = beta == 0.0f ? value : value + beta * ci;
    if (bias) ci += bias[0];
  }
}

// Work split: the output is cut into a grid of row groups x column groups, one task per cell,
// and each task runs the whole K loop for its cell, packing the B panels (and, if it pays, the
// A blocks) it needs into its own thread's buffers. So there is no barrier between packing and
// products, and the only cost of the split is that B is packed once per row group and A once per
// column group.
struct Grid {
  int row_groups = 1, col_groups = 1;
  int panel_rows = 0, panels = 0;  // MR-row panels of C per row group, NR-column panels per column group
};

// A is packed only when it is transposed: op(A)'s MR rows are then one short run per k (a new
// cache line per k when read in place), while packing them is a copy of contiguous runs. An
// untransposed A is read in place: its MR rows are MR streams the prefetcher follows, and packing
// them measured no faster (up to 2048^3) while costing a transposition per block.
constexpr int kPackAMinCols = 2 * NR;
bool pack_a_for(const Operand& a, int cols) { return a.trans && cols >= kPackAMinCols; }

// Small products get up to 4 cells per thread, handed out as threads come: the calling thread
// starts at once while a worker wakes (~10 us), and a thread slowed by a busy core takes fewer.
constexpr double kSmallFlopsPerThread = 2.56e8;
constexpr double kMoreCellsTolerance = 1.05;
constexpr std::size_t kAInL2Floats = std::size_t(1) << 17;  // more cells if the busiest thread costs <= 5% more

Grid choose_grid(const Operand& a, int M, int N, int K, int threads) {
  const int row_panels = (M + MR - 1) / MR, col_panels = (N + NR - 1) / NR;
  const int max_cells = threads > 1 && 2.0 * M * N * K < kSmallFlopsPerThread * threads ? 4 * threads : threads;
  Grid best;
  double best_cost = -1;
  for (int cells = threads; cells <= max_cells; cells *= 2)
    for (int r = 1; r <= cells; ++r) {  // at most `cells` cells, no more groups than panels
      const int rg = std::min(r, row_panels), cg = std::min(cells / r, col_panels);
      const int pr = (row_panels + rg - 1) / rg, pc = (col_panels + cg - 1) / cg;
      const double rows = double(pr) * MR, cols = double(pc) * NR;
      // A task: its products plus what it packs (a packed float costs about as much as 16 flops
      // of the kernel: a load and a store against 32 FMA lanes per cycle) ...
      double cost = 2.0 * rows * cols * K + 16.0 * K * cols;
      // ... with its A rows packed (as B) or read in place: from L2 when they fit in half of it
      // (a quarter of a packed float), else from memory (as much). The busiest thread runs
      // ceil(cells / threads) tasks.
      const bool a_in_l2 = rows * K <= double(kAInL2Floats);
      cost += (pack_a_for(a, int(cols)) || !a_in_l2 ? 16.0 : 4.0) * K * rows;
      cost *= (rg * cg + threads - 1) / threads;
      const bool more_cells = best_cost >= 0 && rg * cg > best.row_groups * best.col_groups;
      if (best_cost < 0 || cost < best_cost || (more_cells && cost <= best_cost * kMoreCellsTolerance)) {
        best_cost = std::min(cost, best_cost < 0 ? cost : best_cost);
        best = Grid{rg, cg, pr, pc};
      }
    }
  return best;
}

// Part of an operand the next K block will pack: `rows` runs of `row_bytes` bytes, `stride`
// bytes apart, handed to the prefetcher a few cache lines at a time (issue) between the current
// block's micro-kernel calls. Used when A is packed (A^T B with K the token count: a weight
// gradient, FAVOR+'s K'^T V1, where packing a block read from memory was a pause in the FMAs).
class NextBlockPrefetch {
 public:
  NextBlockPrefetch() = default;
  NextBlockPrefetch(const float* base, std::size_t stride_floats, std::size_t row_floats, std::size_t rows)
      : base_(reinterpret_cast<const char*>(base)), stride_(stride_floats * sizeof(float)),
        row_bytes_(row_floats * sizeof(float)), rows_(rows) {}
  std::size_t lines() const { return rows_ * ((row_bytes_ + 63) / 64); }
  void issue(std::size_t lines) {
    for (; lines > 0 && row_ < rows_; --lines) {
      __builtin_prefetch(base_ + row_ * stride_ + offset_, 0, 2);
      offset_ += 64;
      if (offset_ >= row_bytes_) offset_ = 0, ++row_;
    }
  }

 private:
  const char* base_ = nullptr;
  std::size_t stride_ = 0, row_bytes_ = 0, rows_ = 0, row_ = 0, offset_ = 0;
};

// op(X)'s rows [r0, r0 + nr) x columns [c0, c0 + nc).
NextBlockPrefetch region(const Operand& x, int r0, int nr, int c0, int nc) {
  if (nr <= 0 || nc <= 0) return {};
  if (x.trans) return {x.data + std::size_t(c0) * x.ld + r0, std::size_t(x.ld), std::size_t(nr), std::size_t(nc)};
  return {x.data + std::size_t(r0) * x.ld + c0, std::size_t(x.ld), std::size_t(nc), std::size_t(nr)};
}

// Rows [i0, i1) x columns [j0, j1) of C (j0 a multiple of NR, so the panels and with them the
// edge tiles are the same whatever the grid). Loop order as in BLIS: NC columns, KC deep,
// MC rows, then NR-column panels and MR-row panels. The KC x NC block of B is packed per task
// (in its own thread's buffer) and stays in L2; the MC x KC block of A also stays in L2.
void run_task(const Operand& a, const Operand& b, int i0, int i1, int j0, int j1, int K, float alpha,
              float beta, const float* bias, float* C, int ldc) {
  const bool packed_a = pack_a_for(a, j1 - j0);
  const int mc_step = packed_a ? kMcPacked : MC;
  const bool prefetch_c = std::size_t(i1 - i0) * (j1 - j0) >= kPrefetchCFloats;
  // K in equal blocks of at most KC (512 = 2 x 256, not 384 + 128: a short block pays the C
  // tile's load and store for few FMAs). It depends on K alone, so the order of every sum too.
  const int k_blocks = (K + KC - 1) / KC, kc_step = (K + k_blocks - 1) / k_blocks;
  // Columns likewise in equal blocks of at most NC, each a whole number of panels (so tile
  // edges stay at multiples of NR from column 0).
  const int n_blocks = (j1 - j0 + NC - 1) / NC;
  const int nc_step = ((j1 - j0 + n_blocks - 1) / n_blocks + NR - 1) / NR * NR;
  for (int jc = j0; jc < j1; jc += nc_step) {
    const int nc = std::min(nc_step, j1 - jc);
    const int panels = (nc + NR - 1) / NR;
    float* packed_b = scratch(std::size_t(panels) * kc_step * NR, 1);
    for (int p0 = 0; p0 < K; p0 += kc_step) {
      const int kc = std::min(kc_step, K - p0);
      const float beta_block = p0 == 0 ? beta : 1.0f;
      const bool last_block = p0 + kc == K;  // the bias goes in after the whole sum
      for (int jp = 0; jp < panels; ++jp)
        pack_b_panel(b, jc + jp * NR, nc - jp * NR, p0, kc, packed_b + std::size_t(jp) * kc * NR);
      // The next block's B and A, spread over this block's micro-kernel calls; at most half of L2
      // (more evicted the block in use: 2048^3 with A^T lost 10 %), B first.
      const int next_kc = std::min(kc_step, K - p0 - kc);
      NextBlockPrefetch next_b, next_a;
      if (packed_a) next_b = region(b, p0 + kc, next_kc, jc, nc), next_a = region(a, i0, i1 - i0, p0 + kc, next_kc);
      const std::size_t calls = std::size_t(panels) * std::size_t((i1 - i0 + MR - 1) / MR);
      const std::size_t budget = kAInL2Floats * sizeof(float) / 64;
      std::size_t left_b = std::min(next_b.lines(), budget), left_a = std::min(next_a.lines(), budget - left_b);
      const std::size_t step_b = (left_b + calls - 1) / calls, step_a = (left_a + calls - 1) / calls;
      auto prefetch_next = [&] {
        const std::size_t nb = std::min(step_b, left_b), na = std::min(step_a, left_a);
        next_b.issue(nb);
        next_a.issue(na);
        left_b -= nb, left_a -= na;
      };
      for (int ic = i0; ic < i1; ic += mc_step) {
        const int mc = std::min(mc_step, i1 - ic);
        const int full_rows = packed_a ? 0 : mc / MR * MR;  // rows read in place
        float* packed = nullptr;
        if (full_rows < mc) {  // W spare floats for single_column's last vector
          packed = scratch(std::size_t(packed_a ? kMcPacked : MR) * kc_step + W, 0);
          pack_a(a, ic + full_rows, mc - full_rows, p0, kc, packed);
        }
        const int a_row = a.trans ? 1 : a.ld, a_k = a.trans ? a.ld : 1;
        for (int jp = 0; jp < panels; ++jp) {
          const int j = jc + jp * NR;
          const int cols = std::min(NR, nc - jp * NR);
          const float* bp = packed_b + std::size_t(jp) * kc * NR;
          const float* bias_j = last_block && bias ? bias + j : nullptr;
          if (cols == 1 && (packed_a || !a.trans)) {
            float column[KC];
            for (int k = 0; k < kc; ++k) column[k] = bp[std::size_t(k) * NR];
            for (int ir = 0; ir < full_rows; ir += MR, prefetch_next())
              single_column(kc, a.data + std::size_t(ic + ir) * a.ld + p0, false, a.ld, column,
                            C + std::size_t(ic + ir) * ldc + j, ldc, MR, alpha, beta_block, bias_j);
            for (int ir = full_rows; ir < mc; ir += MR, prefetch_next())
              single_column(kc, packed + std::size_t(ir - full_rows) * kc, true, 0, column,
                            C + std::size_t(ic + ir) * ldc + j, ldc, std::min(MR, mc - ir), alpha, beta_block, bias_j);
            continue;
          }
          for (int ir = 0; ir < full_rows; ir += MR, prefetch_next()) {
            const float* ap = a.trans ? a.data + std::size_t(p0) * a.ld + (ic + ir)
                                      : a.data + std::size_t(ic + ir) * a.ld + p0;
            micro_kernel_any(kc, ap, a_row, a_k, bp, C + std::size_t(ic + ir) * ldc + j, ldc, MR, cols, alpha,
                             beta_block, bias_j, prefetch_c);
          }
          for (int ir = full_rows; ir < mc; ir += MR, prefetch_next())
            micro_kernel_packed(kc, packed + std::size_t(ir - full_rows) * kc, bp,
                                C + std::size_t(ic + ir) * ldc + j, ldc, std::min(MR, mc - ir), cols, alpha,
                                beta_block, bias_j, prefetch_c);
        }
      }
    }
  }
}

// C = beta C (+ bias on every row): the product's part when it is empty (K = 0 or alpha = 0).
void scale_c(int M, int N, float beta, const float* bias, float* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    float* ci = C + std::size_t(i) * ldc;
    if (beta == 0.0f)
      std::fill(ci, ci + N, 0.0f);
    else
      for (int j = 0; j < N; ++j) ci[j] *= beta;
    if (bias)
      for (int j = 0; j < N; ++j) ci[j] += bias[j];
  }
}

}  // namespace

void packed_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc, const float* bias) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, bias, C, ldc);
    return;
  }
  const Operand a{A, lda, trans_a};
  const Operand b{B, ldb, trans_b};
  const double flops = 2.0 * M * N * K;
  const int pool = inside_parallel_region() ? 1 : num_threads();
  const int threads = flops >= 2 * kMinFlopsPerThread ? std::max(1, pool) : 1;
  const Grid g = choose_grid(a, M, N, K, threads);
  const auto task = [&](std::size_t t) {
    const int rg = int(t) / g.col_groups, cg = int(t) % g.col_groups;
    const int i0 = std::min(M, rg * g.panel_rows * MR), i1 = std::min(M, i0 + g.panel_rows * MR);
    const int j0 = std::min(N, cg * g.panels * NR), j1 = std::min(N, j0 + g.panels * NR);
    if (i0 < i1 && j0 < j1) run_task(a, b, i0, i1, j0, j1, K, alpha, beta, bias, C, ldc);
  };
  const int tasks = g.row_groups * g.col_groups;
  if (tasks == 1)
    task(0);
  else
    parallel_for(std::size_t(tasks), task);
}

}  // namespace pf
