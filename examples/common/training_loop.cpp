#include "training_loop.hpp"
#include "flag_checks.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "engine/core/memory.hpp"
#include "engine/kernels/peak_probe.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "engine/optim/schedule.hpp"

namespace pf::examples {
namespace {

// "tok" -> "token", "img" -> "image" (the progress line's short units, spelled out).
std::string unit_word(const std::string& unit) {
  if (unit == "tok") return "token";
  if (unit == "img") return "image";
  return unit;
}

}  // namespace

void add_budget_flags(CLI::App& app, TrainingBudget& budget) {
  app.add_option("--steps", budget.steps, "training steps (0: train for --minutes)")->check(non_negative())->capture_default_str();
  app.add_option("--minutes", budget.minutes, "training time when --steps is 0 (evaluation excluded)")->capture_default_str();
  app.add_option("--lr", budget.lr, "peak learning rate (AdamW)")->capture_default_str();
  app.add_option("--min-lr", budget.min_lr, "learning rate at the end of the cosine decay")->capture_default_str();
  app.add_option("--warmup", budget.warmup, "linear warm-up steps")->check(non_negative())->capture_default_str();
  app.add_option("--clip", budget.clip, "clip the global gradient norm to this")->capture_default_str();
  app.add_option("--eval-every-minutes", budget.eval_every_minutes, "evaluate at these marks of training time (0: end only)")
      ->capture_default_str();
  app.add_option("--checkpoint-every", budget.checkpoint_every, "save every N steps (0: only at the end)")->check(non_negative())->capture_default_str();
  app.add_option("--stop-after", budget.stop_after,
                 "end this run after step N with a checkpoint, the schedule unchanged (continue with --resume)")
      ->check(non_negative())
      ->capture_default_str();
}

void check_budget(const TrainingBudget& budget) {
  if (budget.steps < 0 || (budget.steps == 0 && !(budget.minutes > 0)) || !(budget.lr > 0) || budget.min_lr < 0 ||
      budget.min_lr > budget.lr || budget.warmup < 0 || !(budget.clip > 0))
    throw std::invalid_argument(fmt::format(
        "bad training budget: steps {} minutes {} lr {} min-lr {} warmup {} clip {} (need steps >= 0, minutes > 0 "
        "when steps is 0, 0 <= min-lr <= lr, warmup >= 0, clip > 0)",
        budget.steps, budget.minutes, budget.lr, budget.min_lr, budget.warmup, budget.clip));
}

template <class T>
TrainingSummary train_for_budget(Module<T>& model, Optimizer<T>& optimizer, RunState& run,
                                 const TrainingBudget& budget, const TrainingHooks<T>& hooks, JsonlLog& log) {
  using Clock = std::chrono::steady_clock;
  check_budget(budget);
  const double seconds = budget.steps > 0 ? 0 : budget.minutes * 60;
  const double elapsed_at_start = run.elapsed_seconds;
  const double eval_period = budget.eval_every_minutes * 60;
  double next_eval = eval_period > 0 ? (std::floor(run.elapsed_seconds / eval_period) + 1) * eval_period : INFINITY;
  ProgressReporter progress(static_cast<std::size_t>(budget.steps > 0 ? budget.steps : run.total_steps), seconds, 50,
                            hooks.rate_unit);
  const bool distributed = hooks.comm && hooks.comm->size() > 1;
  if (distributed && hooks.comm->rank() != 0) progress.set_quiet(true);
  TrainingSummary summary;
  double step_seconds = 0, units = 0, loss_ema = NAN;
  summary.rate_unit = hooks.rate_unit;
  summary.threads = num_threads();
  summary.ranks = distributed ? hooks.comm->size() : 1;
  if (hooks.flops_per_unit > 0) {
    // Every rank probes its cores at the same moment, so ranks that share a machine share it as
    // they do in training; the run's peak is the sum over the ranks.
    std::vector<double> peak = {fma_peak(summary.threads).gflops};
    if (distributed) hooks.comm->allreduce_sum(peak.data(), peak.size());
    summary.flops_per_unit = hooks.flops_per_unit;
    summary.peak_gflops = peak[0];
    progress.message(fmt::format("model: {:.4g} MFLOP per {} (forward + backward); FMA probe peak {:.0f} GFLOP/s on {} "
                                 "thread(s){}",
                                 hooks.flops_per_unit / 1e6, unit_word(hooks.rate_unit), summary.peak_gflops,
                                 summary.threads, summary.ranks > 1 ? fmt::format(" x {} ranks", summary.ranks) : ""));
  }
  // Achieved GFLOP/s over this run's steps so far (all ranks), into the summary.
  auto update_utilisation = [&] {
    if (summary.flops_per_unit > 0 && step_seconds > 0) summary.gflops = units / step_seconds * summary.flops_per_unit / 1e9;
  };
  std::size_t fresh_after_warmup = 0;  // fresh pool bytes taken inside steps after the third

  // The curve's SVG, redrawn from the log after every evaluation; a failure to draw it is a
  // warning, not the end of the run.
  const std::string plot_path =
      hooks.curve_metric.key.empty() || !log.is_open() ? "" : curve_plot_path(log.path());
  auto plot = [&] {
    if (plot_path.empty()) return;
    try {
      if (!write_curve_plot(log.path(), plot_path, hooks.curve_metric)) return;
      if (summary.plot_path.empty()) progress.message(fmt::format("curve plot: {} (redrawn at every evaluation)", plot_path));
      summary.plot_path = plot_path;
    } catch (const std::exception& e) {
      progress.message(fmt::format("warning: the curve plot was not written: {}", e.what()));
    }
  };

  std::int64_t evaluated_at = -1;
  auto evaluate = [&] {
    evaluated_at = run.step;
    model.eval();
    if (hooks.evaluate_line) {
      progress.message(hooks.evaluate_line());
    } else {
      progress.message(fmt::format("step {} ({} trained):", run.step, format_duration(run.elapsed_seconds)));
      hooks.evaluate();
    }
    model.train();
    update_utilisation();
    if (summary.gflops > 0)
      log.write("utilisation", {{"step", double(run.step)}, {"elapsed_s", run.elapsed_seconds},
                                {hooks.rate_key, units / step_seconds}, {"flops_per_unit", summary.flops_per_unit},
                                {"gflops", summary.gflops}, {"peak_gflops", summary.peak_gflops},
                                {"peak_fraction", summary.peak_fraction()}});
    plot();
  };
  std::int64_t total_steps = budget.steps > 0 ? budget.steps : run.total_steps;
  while (true) {
    const double trained = run.elapsed_seconds - elapsed_at_start;
    if (budget.steps > 0 ? run.step >= budget.steps : (trained >= seconds && summary.steps_this_run > 0)) break;
    if (budget.stop_after > 0 && run.step >= budget.stop_after) break;
    // A time-bounded run fixes its schedule length once the step time is known (after 5 steps)
    // and stores it in `run`, so a resumed run follows the same schedule.
    if (total_steps == 0 && summary.steps_this_run >= 5)
      total_steps = run.step + std::max<std::int64_t>(1, std::int64_t((seconds - trained) /
                                                                       (step_seconds / double(summary.steps_this_run))));
    run.total_steps = total_steps;
    const double lr = total_steps > 0
                          ? WarmupCosineLr(budget.lr, std::min(budget.warmup, total_steps), total_steps, budget.min_lr)
                                .lr_at(std::min(run.step, total_steps))
                          : budget.lr * double(run.step + 1) / double(std::max<std::int64_t>(budget.warmup, 1));
    optimizer.set_lr(lr);

    const auto t0 = Clock::now();
    const std::size_t fresh_before = memory_stats().fresh_bytes;
    auto [loss, batch_units] = hooks.next_loss();
    double value = loss.item();
    if (!std::isfinite(value)) {
      progress.finish();
      if (!hooks.checkpoint_path.empty())
        throw std::runtime_error(fmt::format("the loss became {} at step {}: stopping. The last good checkpoint is '{}' "
                                             "(try a lower --lr or --clip)",
                                             value, run.step, hooks.checkpoint_path));
      throw std::runtime_error(fmt::format("the loss became {} at step {}: stopping; the last checkpoint is kept "
                                           "(try a lower --lr or --clip)",
                                           value, run.step));
    }
    loss.backward();
    loss = Tensor<T>();  // free the graph before the update
    if (hooks.gradients) hooks.gradients->average();
    clip_grad_norm(model.named_parameters(), budget.clip);
    optimizer.step();
    optimizer.zero_grad();
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (distributed) {
      // One small collective: the mean loss over the ranks (what one process would log) and rank
      // 0's step time, which every rank adopts so that time marks fall on the same step.
      std::vector<double> shared = {value, hooks.comm->rank() == 0 ? dt : 0.0};
      hooks.comm->allreduce_sum(shared.data(), shared.size());
      value = shared[0] / double(hooks.comm->size());
      dt = shared[1];
      batch_units *= double(hooks.comm->size());
    }

    ++run.step;
    ++summary.steps_this_run;
    run.tokens_seen += batch_units;
    run.elapsed_seconds += dt;
    step_seconds += dt;
    units += batch_units;
    // Evaluations and saves between steps may take fresh memory; only the steps' own counts.
    if (summary.steps_this_run > 3) {
      fresh_after_warmup += memory_stats().fresh_bytes - fresh_before;
      summary.fresh_bytes_per_step = fresh_after_warmup / std::size_t(summary.steps_this_run - 3);
    }
    loss_ema = std::isnan(loss_ema) ? value : 0.95 * loss_ema + 0.05 * value;
    progress.update(static_cast<std::size_t>(run.step), loss_ema, batch_units / dt, run.elapsed_seconds - elapsed_at_start);
    log.write("train", {{"step", double(run.step)}, {"loss", value}, {"lr", lr}, {hooks.rate_key, batch_units / dt},
                        {"elapsed_s", run.elapsed_seconds}});
    const bool step_mark = budget.eval_every_steps > 0 && run.step % budget.eval_every_steps == 0;
    if (run.elapsed_seconds >= next_eval || step_mark) {
      evaluate();
      while (next_eval <= run.elapsed_seconds) next_eval += eval_period;
    }
    if (budget.checkpoint_every > 0 && run.step % budget.checkpoint_every == 0) hooks.save();
  }
  progress.finish();
  if (evaluated_at != run.step) evaluate();  // unless a time mark just did
  hooks.save();
  summary.seconds_this_run = step_seconds;
  summary.units_per_second = step_seconds > 0 ? units / step_seconds : 0;
  update_utilisation();
  // The end-of-run record: this run's rate, its memory and, when the FLOPs are counted, its
  // utilisation (run_table and the studies read it).
  std::vector<std::pair<std::string, double>> fields = {
      {"step", double(run.step)}, {"steps_this_run", double(summary.steps_this_run)}, {"train_s", step_seconds},
      {"elapsed_s", run.elapsed_seconds}, {hooks.rate_key, summary.units_per_second}};
  if (summary.gflops > 0)
    fields.insert(fields.end(), {{"flops_per_unit", summary.flops_per_unit}, {"gflops", summary.gflops},
                                 {"peak_gflops", summary.peak_gflops}, {"peak_fraction", summary.peak_fraction()}});
  fields.insert(fields.end(), {{"threads", double(summary.threads)}, {"ranks", double(summary.ranks)},
                               {"peak_rss_bytes", double(peak_rss_bytes())},
                               {"peak_tensor_bytes", double(memory_stats().peak_live_bytes)}});
  log.write("summary", fields);
  return summary;
}

template TrainingSummary train_for_budget<float>(Module<float>&, Optimizer<float>&, RunState&, const TrainingBudget&,
                                                 const TrainingHooks<float>&, JsonlLog&);

void print_run_footer(const TrainingSummary& summary, const std::string& checkpoint, const std::string& log_path) {
  const auto mib = [](std::size_t bytes) { return fmt::format("{:.0f} MiB", double(bytes) / (1 << 20)); };
  if (summary.gflops > 0)
    fmt::print("utilisation: {:.4g} MFLOP per {} (forward + backward, matrix products), {:.1f} GFLOP/s = {:.1f}% of "
               "the FMA probe's {:.0f} GFLOP/s on {} thread(s){}\n",
               summary.flops_per_unit / 1e6, unit_word(summary.rate_unit), summary.gflops, 100 * summary.peak_fraction(),
               summary.peak_gflops, summary.threads, summary.ranks > 1 ? fmt::format(" x {} ranks", summary.ranks) : "");
  fmt::print("memory: peak RSS {}, tensors peak {}; fresh memory per step after warm-up {} bytes\n", mib(peak_rss_bytes()),
             mib(memory_stats().peak_live_bytes), summary.fresh_bytes_per_step);
  fmt::print("process CPU time {:.0f} s (all threads) for {} of training\n", double(std::clock()) / CLOCKS_PER_SEC,
             format_duration(summary.seconds_this_run));
  if (summary.plot_path.empty())
    fmt::print("checkpoint: {} (curve: {})\n", checkpoint, log_path);
  else
    fmt::print("checkpoint: {} (curve: {}, plot: {})\n", checkpoint, log_path, summary.plot_path);
}

}  // namespace pf::examples
