// The training loop shared by the pixel and protein programs: a budget of steps or of minutes
// of training time (evaluation excluded), warm-up + cosine learning rate, gradient clipping,
// progress bar and JSON-lines curve (drawn as an SVG beside the log at every evaluation),
// evaluations at fixed marks of training time, checkpoints, and a clear stop on a non-finite loss. Checkpoint contents are the caller's (save hook, with
// save_run from training_run.hpp), so a resumed run continues the same schedule and curve.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "curve_plot.hpp"
#include "engine/distributed/communicator.hpp"
#include "engine/distributed/gradient_average.hpp"
#include "engine/optim/optimizers.hpp"
#include "layers/module.hpp"
#include "progress.hpp"
#include "training_run.hpp"

namespace pf::examples {

struct TrainingBudget {
  std::int64_t steps = 0;        // > 0: train this many steps; 0: train for `minutes`
  double minutes = 10;
  double lr = 1e-3, min_lr = 1e-5;
  std::int64_t warmup = 100;
  double clip = 1.0;
  double eval_every_minutes = 0;  // evaluate at these marks of training time (0: only at the end)
  std::int64_t eval_every_steps = 0;  // also evaluate every N steps (0: not by steps)
  std::int64_t checkpoint_every = 0;  // save every N steps (0: only at the end)
  std::int64_t stop_after = 0;  // end this run after step N (evaluate, save) as if stopped; 0: never
};

// The budget flags (--steps, --minutes, --lr, --min-lr, --warmup, --clip, --eval-every-minutes,
// --checkpoint-every), bound to `budget`, worded the same in every program.
void add_budget_flags(CLI::App& app, TrainingBudget& budget);

// std::invalid_argument naming every budget value and what is required, for a budget no run can
// follow (checked when a session is made, before any data is read, and by train_for_budget).
void check_budget(const TrainingBudget& budget);

template <class T>
struct TrainingHooks {
  // The loss of the next training batch (this rank's rows of it), and how many units (tokens,
  // images) those rows cover.
  std::function<std::pair<Tensor<T>, double>()> next_loss;
  // Called with training paused (model in eval mode); logs and prints its own numbers.
  std::function<void()> evaluate;
  // Or, for a one-line report, evaluates and returns the line to print (set instead of evaluate).
  std::function<std::string()> evaluate_line;
  // Saves a checkpoint (after the caller's RunState fields are filled in).
  std::function<void()> save;
  // How the program words its output (defaults: the pixel and protein programs' wording).
  const char* rate_key = "units_per_s";  // JSONL field of the training rate
  const char* rate_unit = "tok";         // what the progress line's rate counts ("tok/s", "img/s")
  std::string checkpoint_path;           // named in the non-finite loss error when set
  // Data-parallel runs (set by TrainingSession): ranks other than 0 print nothing; every rank
  // averages its gradients with the others' before the update, and all take rank 0's step time,
  // so they agree on when to evaluate, save and stop.
  Communicator* comm = nullptr;
  GradientAverager<T>* gradients = nullptr;
  // The metric of the eval lines to plot with the training loss, in the log's .svg (see curve_plot.hpp).
  CurveMetric curve_metric;
  // Forward + backward FLOPs of one unit of next_loss (models/performer_flops.hpp); > 0 turns on
  // the utilisation report: achieved GFLOP/s against the FMA probe's peak at the run's threads
  // (engine/kernels/peak_probe.hpp), in the summary, the "utilisation" line after every
  // evaluation and the end-of-run "summary" line of the log. 0: not known, not reported.
  double flops_per_unit = 0;
};

struct TrainingSummary {
  std::int64_t steps_this_run = 0;
  double seconds_this_run = 0;
  double units_per_second = 0;
  std::size_t fresh_bytes_per_step = 0;  // pool allocations of a step after warm-up (0 = all reused)
  std::string plot_path;                 // the curve's SVG, when one was written
  // Utilisation (when TrainingHooks::flops_per_unit > 0, else 0): achieved GFLOP/s of this run's
  // steps over all ranks, and the FMA probe's peak for the threads of all ranks.
  const char* rate_unit = "tok";
  double flops_per_unit = 0, gflops = 0, peak_gflops = 0;
  int threads = 1, ranks = 1;  // per rank, and ranks
  double peak_fraction() const { return peak_gflops > 0 ? gflops / peak_gflops : 0; }
};

// Trains until the budget is spent, evaluating and saving per the budget, then evaluates and
// saves once more. `run` holds the counters (and is what a checkpoint stores).
template <class T>
TrainingSummary train_for_budget(Module<T>& model, Optimizer<T>& optimizer, RunState& run,
                                 const TrainingBudget& budget, const TrainingHooks<T>& hooks, JsonlLog& log);

// The closing lines of every training program: the utilisation (FLOPs per unit, GFLOP/s, fraction
// of the probe's peak) when counted, peak memory (RSS and tensors) and the fresh memory a step took, the CPU time the process got (on a shared machine the wall-clock budget
// buys less of it), and where the checkpoint, the curve and its plot are.
void print_run_footer(const TrainingSummary& summary, const std::string& checkpoint, const std::string& log_path);

}  // namespace pf::examples
