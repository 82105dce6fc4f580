// Learning-rate schedules: lr_at(step) for step = 0, 1, 2, ... (the number of optimizer steps
// already taken, i.e. optimizer.step_count() before the step). Typical use, once per step:
//   opt.set_lr(schedule.lr_at(opt.step_count()));  loss.backward();  opt.step();
#pragma once

#include <cstdint>

namespace pf {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(std::int64_t step) const = 0;
};

// lr(step) = lr.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double lr);
  double lr_at(std::int64_t step) const override;

 private:
  double lr_;
};

// Linear warmup, then cosine decay to min_lr:
//   step < warmup:          lr = max_lr (step + 1) / warmup       (the first step is not lr 0)
//   warmup <= step < total: p = (step - warmup) / (total - warmup),
//                           lr = min_lr + (max_lr - min_lr) (1 + cos(pi p)) / 2
//   step >= total:          lr = min_lr
// So lr reaches max_lr at step warmup - 1 and warmup, and min_lr at step total.
// Needs 0 <= warmup <= total, total > 0, 0 <= min_lr <= max_lr.
class WarmupCosineLr : public LrSchedule {
 public:
  WarmupCosineLr(double max_lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr = 0);
  double lr_at(std::int64_t step) const override;

 private:
  double max_lr_, min_lr_;
  std::int64_t warmup_, total_;
};

}  // namespace pf
