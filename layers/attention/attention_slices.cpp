#include "layers/attention/attention_slices.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace pf {

AttentionSlices check_attention_slices(const char* op, const char* q_name, const char* k_name, const char* width,
                                       const Shape& qs, const Shape& ks, const Shape& vs, const Mask* mask) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument(fmt::format("{}: {} {}, {} {}, v {} {}", op, q_name, shape_str(qs), k_name,
                                             shape_str(ks), shape_str(vs), why));
  };
  if (qs.size() < 2 || ks.size() < 2 || vs.size() < 2)
    throw fail(fmt::format("need [..., L, {}] and [..., L, dv]", width));
  if (qs != ks) throw fail(fmt::format("{} and {} must have the same shape", q_name, k_name));
  if (vs.size() != qs.size() || !std::equal(qs.begin(), qs.end() - 1, vs.begin()))
    throw fail(fmt::format("v must match {} on every axis but the last", q_name));
  AttentionSlices a;
  a.len = qs[qs.size() - 2];
  const Shape lead(qs.begin(), qs.end() - 2);
  a.slices = shape_numel(lead);
  if (mask) {
    const Shape ms = to_shape(mask->shape());
    const Shape mlead(ms.begin(), ms.empty() ? ms.end() : ms.end() - 1);
    if (ms.empty() || ms.back() != a.len || mlead.size() > lead.size() ||
        !std::equal(mlead.begin(), mlead.end(), lead.begin()))
      throw std::invalid_argument(fmt::format(
          "{}: key padding mask {} must be [lead..., L] with lead a prefix of {} {}'s leading axes", op,
          shape_str(ms), q_name, shape_str(qs)));
    a.slices_per_mask_row = a.slices / std::max<std::size_t>(shape_numel(mlead), 1);
  }
  return a;
}

}  // namespace pf
