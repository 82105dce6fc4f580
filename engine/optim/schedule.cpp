#include "engine/optim/schedule.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace pf {

ConstantLr::ConstantLr(double lr) : lr_(lr) {
  if (!(lr >= 0)) throw std::invalid_argument(fmt::format("ConstantLr: lr must be >= 0, got {}", lr));
}

double ConstantLr::lr_at(std::int64_t) const { return lr_; }

WarmupCosineLr::WarmupCosineLr(double max_lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr)
    : max_lr_(max_lr), min_lr_(min_lr), warmup_(warmup_steps), total_(total_steps) {
  if (!(warmup_steps >= 0 && warmup_steps <= total_steps && total_steps > 0 && min_lr >= 0 && min_lr <= max_lr))
    throw std::invalid_argument(fmt::format(
        "WarmupCosineLr: needs 0 <= warmup ({}) <= total ({}), total > 0, 0 <= min_lr ({}) <= max_lr ({})",
        warmup_steps, total_steps, min_lr, max_lr));
}

double WarmupCosineLr::lr_at(std::int64_t step) const {
  if (step < 0) throw std::invalid_argument(fmt::format("WarmupCosineLr::lr_at: step must be >= 0, got {}", step));
  if (step < warmup_) return max_lr_ * double(step + 1) / double(warmup_);
  if (step >= total_) return min_lr_;
  const double progress = double(step - warmup_) / double(total_ - warmup_);
  return min_lr_ + (max_lr_ - min_lr_) * 0.5 * (1 + std::cos(M_PI * progress));
}

}  // namespace pf
