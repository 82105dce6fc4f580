#include "layers/attention/favor_plan.hpp"

#include "layers/attention/attention_slices.hpp"

namespace pf::favor {

FavorPlan plan_favor(const char* op, const Shape& qs, const Shape& ks, const Shape& vs, const Mask* mask) {
  const AttentionSlices a = check_attention_slices(op, "q'", "k'", "M", qs, ks, vs, mask);
  FavorPlan p;
  p.slices = a.slices;
  p.len = a.len;
  p.features = qs.back();
  p.dv = vs.back();
  p.dv1 = p.dv + 1;
  p.out_shape = vs;
  p.slices_per_mask_row = a.slices_per_mask_row;
  if (mask) p.mask = std::make_shared<const Mask>(*mask);
  return p;
}

}  // namespace pf::favor
