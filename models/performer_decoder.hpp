// PerformerDecoder: the lean RNN-mode step of a causal FAVOR PerformerLM, for generation.
//
// Same math as PerformerLM::step (and so as forward() at that position), without what a step of
// the Tensor path costs on top of it: no tape and no Tensor per op; the state S1 of every layer
// and every scratch row live in buffers allocated once; the q, k, v projections are one product
// with a fused [3D, D] weight, and every product is a register-tiled pass over the weights
// (no packing per call, as a GEMM would do for these one-row shapes); for FAVOR+ (positive features) the feature maps of q and k, the
// state update S1 += k' [v, 1] and the read-out [num, den] = q' S1 are one pass per head (other
// feature maps go through the layer's own feature functions, then the same pass).
//
// A step reads every weight once for all rows (the products are register tiles of a few rows
// over one or two panels of columns), so for a few rows it is bound by streaming the weights. On 2 threads the
// step runs as one parallel region of phases (per layer: norm + q/k/v, attention, out
// projection, norm + first feed-forward product, second product; then the logits), each phase in
// two fixed halves with the calling thread preferring the first, so each core reads the same half
// of every weight (and keeps the states of the same attention slices) at every step: for the
// default model that half stays in the core's L2. Results are bit-identical whatever the rows
// and the threads (each output is summed in one order by one thread).
//
// R rows (sequences) step together, one token each; every row has its own position, so rows may
// be at different points of their text (text_sampling's window rows are). Work per token is
// O(layers * (D^2 + D F + H M d)) whatever the length before it.
//
//   PerformerDecoder<float> decoder(model, rows);
//   decoder.prefill(0, prompt_ids);                 // rows 0 .. B-1 from a prompt [B, L]
//   const float* logits = decoder.step(tokens, 0, R);   // tokens [R] -> logits [R, V]
//
// Weight storage: float32 by default (results as above, exact to the model). WeightStorage::float16
// (float only) stores the products' weights (q/k/v, out, feed-forward, logits head, random
// projection) as IEEE half panels, widened to float32 in registers as they are loaded
// (engine/kernels/float16.hpp): half the bytes to stream per token, so the default model's
// weights (~1.6 MB) fit one core's L2. Lossy (each weight rounded to nearest, relative error
// <= 2^-11); accumulation, biases, norms, activations and the FAVOR states stay float32, and
// prefill (the Tensor path) stays float32. A weight beyond float16's range (|w| > 65504) is
// refused, naming the tensor. Rows stay bit-identical whatever the rows and threads.
//
// The decoder copies the weights when it is built (transposed, W^T [in, out], in panels of 2 SIMD
// vectors of columns, so that a step streams them in memory order): build a new one after the model's weights change. The model must
// outlive the decoder (prefill and the norms use it).
// Test: tests/models/test_performer_decoder.cpp.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "engine/kernels/float16.hpp"
#include "models/performer_lm.hpp"

namespace pf {

// How PerformerDecoder stores the weights of its products (see above).
enum class WeightStorage { float32, float16 };
const char* weight_storage_name(WeightStorage storage);
// "float32" / "float16"; anything else is refused naming the value.
WeightStorage parse_weight_storage(const std::string& name);

template <class T>
class PerformerDecoder {
 public:
  // Throws std::invalid_argument if the model has no RNN mode (exact or bidirectional attention),
  // for float16 storage with T = double, or for a weight outside float16's range.
  PerformerDecoder(const PerformerLM<T>& model, std::size_t rows, WeightStorage storage = WeightStorage::float32);

  WeightStorage weight_storage() const { return storage_; }

  std::size_t rows() const { return rows_; }
  std::size_t vocab() const { return vocab_; }
  std::size_t position(std::size_t row) const { return positions_.at(row); }

  // Row `row` back to the empty state at position 0.
  void reset_row(std::size_t row);
  // Row `to` becomes a copy of row `from` (state and position).
  void copy_row(std::size_t from, std::size_t to);
  // Row `row` takes row `from` of a Tensor-path state (PerformerLM::prefill / step).
  void load_row(std::size_t row, const typename PerformerLM<T>::State& state, std::size_t from);

  // Rows [row0, row0 + B) continue with ids [B, L] in one chunked pass (PerformerLM::prefill);
  // returns the logits after the last token [B, V].
  Tensor<T> prefill(std::size_t row0, const Indices& ids);

  // One token for each row of [row0, row0 + count): tokens[count]. Returns their next-token logits
  // [count, V], valid until the next call. Throws past the learned positions.
  const T* step(const std::int64_t* tokens, std::size_t row0, std::size_t count);

 private:
  // Panels of W^T [in, out] (performer_decoder.cpp, panels_of) in the decoder's storage: `wide`
  // (T) for float32 storage, `half` (float16 bits, same layout) for float16.
  struct Panels {
    Array<T> wide;
    std::vector<float16_bits, xsimd::aligned_allocator<float16_bits, 64>> half;
  };
  struct Layer {
    Panels qkv_t;                   // W^T [D, 3D] of q, k, v stacked
    Array<T> qkv_bias;              // [3D]
    Panels out_t, ff1_t, ff2_t;     // W^T [D, D], [D, F], [F, D]
    Panels projection_t;            // random features W^T [d, m]
    // S1 of every row and head, per slice S [M, dv] then z [M] (M (dv + 1) values).
    std::vector<T, xsimd::aligned_allocator<T, 64>> state;
  };
  void attention(std::size_t layer, std::size_t row0, std::size_t count);
  void positive_heads(std::size_t layer, std::size_t row0, std::size_t count);
  void positive_slices(std::size_t layer, std::size_t row0, std::size_t s0, std::size_t s1);
  void step_phase(std::size_t p, std::size_t half, std::size_t halves, std::size_t row0, std::size_t count);
  void generic_heads(std::size_t layer, std::size_t row0, std::size_t count);
  // One slice between the Tensor path's [M, dv + 1] and this decoder's layout.
  void import_slice(const T* s1, T* slice) const;
  void export_slice(const T* slice, T* s1) const;
  void update_and_read(std::size_t layer, std::size_t row, std::size_t head, const T* qf, const T* kf);

  Panels stored_panels(const Tensor<T>& w, const std::string& name) const;

  const PerformerLM<T>& model_;
  PerformerConfig config_;
  WeightStorage storage_ = WeightStorage::float32;
  std::size_t rows_ = 0, vocab_ = 0, D_ = 0, H_ = 0, d_ = 0, F_ = 0, m_ = 0, M_ = 0;
  std::vector<Layer> layers_;
  Panels head_t_;  // [D, V]
  std::vector<std::size_t> positions_;
  // Per phase of a 2-thread step: half 0 taken, half 1 taken, halves done (step).
  std::unique_ptr<std::atomic<int>[]> phase_flags_;
  // Scratch for `rows` rows, reused by every step: the residual x [R, D], a normed copy [R, D],
  // qkv [R, 3D], attention heads [R, D], feed-forward hidden [R, F], logits [R, V], features.
  std::vector<T> x_, normed_, qkv_, heads_, hidden_, logits_, qf_, kf_, u_, read_;
};

}  // namespace pf
