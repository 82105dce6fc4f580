// The slice geometry every attention kernel starts from, checked once: q, k [..., L, d] (the
// same shape), v [..., L, dv] with the same leading axes, and an optional key padding mask
// [lead..., L] whose lead is a prefix of the inputs' leading axes (shared by the other axes).
// Used by the FAVOR+ forms (favor_plan.cpp) and exact attention.
#pragma once

#include <cstddef>

#include "engine/core/tensor.hpp"

namespace pf {

struct AttentionSlices {
  std::size_t slices = 0;               // N = product of the leading axes (B*H)
  std::size_t len = 0;                  // L
  std::size_t slices_per_mask_row = 1;  // slice s reads mask row s / slices_per_mask_row
};

// Throws std::invalid_argument "op: q {}, k {}, v {} why", with the names given (e.g. q' and k'
// for feature-mapped inputs, width "M" or "d" for the last axis of q and k).
AttentionSlices check_attention_slices(const char* op, const char* q_name, const char* k_name, const char* width,
                                       const Shape& qs, const Shape& ks, const Shape& vs, const Mask* mask);

}  // namespace pf
