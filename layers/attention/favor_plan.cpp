#include "layers/attention/favor_plan.hpp"

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace pf::favor {

FavorPlan plan_favor(const char* op, const Shape& qs, const Shape& ks, const Shape& vs, const Mask* mask) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("{}: q' {}, k' {}, v {} {}", op, shape_str(qs), shape_str(ks),
                                             shape_str(vs), why));
  };
  if (qs.size() < 2 || ks.size() < 2 || vs.size() < 2) throw fail("need [..., L, M] and [..., L, dv]");
  if (qs != ks) throw fail("q' and k' must have the same shape");
  if (vs.size() != qs.size() || !std::equal(qs.begin(), qs.end() - 1, vs.begin()))
    throw fail("v must match q' on every axis but the last");
  FavorPlan p;
  p.len = qs[qs.size() - 2];
  p.features = qs.back();
  p.dv = vs.back();
  p.dv1 = p.dv + 1;
  const Shape lead(qs.begin(), qs.end() - 2);
  p.slices = shape_numel(lead);
  p.out_shape = vs;
  if (mask) {
    const Shape ms = to_shape(mask->shape());
    const Shape mlead(ms.begin(), ms.empty() ? ms.end() : ms.end() - 1);
    if (ms.empty() || ms.back() != p.len || mlead.size() > lead.size() ||
        !std::equal(mlead.begin(), mlead.end(), lead.begin()))
      throw std::invalid_argument(fmt::format(
          "{}: key padding mask {} must be [lead..., L] with lead a prefix of q' {}'s leading axes", op,
          shape_str(ms), shape_str(qs)));
    p.mask = std::make_shared<const Mask>(*mask);
    p.slices_per_mask_row = p.slices / std::max<std::size_t>(shape_numel(mlead), 1);
  }
  return p;
}

}  // namespace pf::favor
