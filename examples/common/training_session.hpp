// One training session for every training program: what train_text, train_pixels and
// train_protein share around their model and data. It owns the run's state (counters, RNG of
// the data stream, optimizer, JSON-lines log, checkpoint path) and the data-parallel logic, so
// a program's run() reads: session, data, model, hooks, train, report.
//
// Data-parallel training (DESIGN.md section 5; README "Several processes and machines"): under
// mpirun, every rank builds the same model (same seed), draws the same global batch from the
// same data generator and computes rows shard(B) of it; gradients are averaged over the ranks
// before each update, so every rank applies the same update and an N-rank run equals the
// single-process run up to the order of floating-point sums. Only rank 0 prints, logs, plots
// and saves. Evaluation is split over the ranks with share_of() and reduced with sum_over_ranks().
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/core/random.hpp"
#include "engine/distributed/communicator.hpp"
#include "engine/distributed/gradient_average.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/optim/optimizers.hpp"
#include "layers/module.hpp"
#include "models/performer_config.hpp"
#include "progress.hpp"
#include "training_loop.hpp"
#include "training_run.hpp"

namespace pf::examples {

// The flags every training program has, worded the same everywhere.
struct SessionFlags {
  TrainingBudget budget;
  double weight_decay = 0.01;   // AdamW's decoupled weight decay
  int threads = 0;              // 0: this machine's cores shared among its ranks
  std::string checkpoint;       // the program sets its default
  bool resume = false;
  std::string log;              // JSON-lines curve; default: the checkpoint path with .jsonl
  bool allow_non_finite = false;  // resume from (and save) NaN/Inf state instead of refusing it
  std::string init_from;        // a new run from this checkpoint's weights (init_from.hpp); not with --resume
};
// --steps ... --checkpoint-every (add_budget_flags), --weight-decay, --threads, --checkpoint,
// --resume, --init-from, --log, --allow-non-finite.
void add_session_flags(CLI::App& app, SessionFlags& flags);

// Rows [begin, begin + count) of something with `total` rows that this rank takes.
struct Shard {
  std::size_t begin = 0, count = 0;
};

// The same rows of an [N, ...] index array (a batch's inputs or targets), as a new array.
Indices take_rows(const Indices& all, const Shard& rows);
Mask take_rows(const Mask& all, const Shard& rows);

class TrainingSession {
 public:
  // Threads (per rank), the allocator tuned for reuse, the communicator (MPI under mpirun).
  TrainingSession(std::string program, SessionFlags flags);

  Communicator& comm() const { return comm_; }
  bool is_root() const { return comm_.rank() == 0; }
  int threads() const { return threads_; }
  const SessionFlags& flags() const { return flags_; }
  const std::string& checkpoint() const { return flags_.checkpoint; }

  // --resume: replaces `config` by the checkpoint's (the saved model wins over the flags);
  // call before building the model. Does nothing without --resume.
  void adopt_resumed_config(PerformerConfig& config);

  // The model is built: makes the AdamW optimizer and the data generator (seeded from the
  // config's seed), restores weights, optimizer, counters and generator on --resume, or copies
  // the weights of --init-from's checkpoint into the new run (and says so), creates the
  // checkpoint's directory and opens the log (rank 0). With several ranks, refuses dropout (each
  // rank would draw the same masks for other rows) and checks that every rank holds the same
  // weights and random features as rank 0.
  void start(Module<float>& model, const PerformerConfig& config);

  AdamW<float>& optimizer() { return *optimizer_; }
  Rng& data_rng() { return data_rng_; }
  RunState& run() { return run_; }
  const std::string& log_path() const { return log_path_; }
  JsonlLog& log() { return log_; }

  // This rank's rows of a global training batch of `batch` rows; throws before training when
  // the ranks do not divide it (checked by start() through check_batch()).
  Shard shard(std::size_t batch) const;
  void check_batch(std::size_t batch) const;
  // This rank's share of `items` evaluation items (contiguous; the first ranks take one more
  // when the ranks do not divide them).
  Shard share_of(std::size_t items) const;
  // values[i] = sum over ranks of values[i] (for evaluation totals).
  void sum_over_ranks(std::vector<double>& values) const;

  // Program metadata saved with every checkpoint (e.g. the task).
  void set_checkpoint_metadata(Metadata extra) { extra_metadata_ = std::move(extra); }

  // Trains for the budget with the program's hooks (next_loss, evaluate or evaluate_line, rate
  // and plot wording); the session supplies saving, gradient averaging and the communicator.
  // A run started with --init-from is evaluated once before its first step (step 0: the
  // checkpoint's weights in the new model, e.g. right after swapping FAVOR+ in). The loop ends
  // the log with one "summary" line (steps, training seconds, rate, utilisation, peak RSS and
  // tensor bytes), so a study reads a run's cost from its log.
  TrainingSummary train(TrainingHooks<float> hooks);

  // Memory, CPU time, where the checkpoint, curve and plot are (rank 0).
  void print_footer(const TrainingSummary& summary) const;

  // fmt::print on rank 0 only.
  template <class... Args>
  void print(fmt::format_string<Args...> format, Args&&... args) const {
    if (is_root()) fmt::print(format, std::forward<Args>(args)...);
  }

 private:
  void save();

  std::string program_;
  SessionFlags flags_;
  Communicator& comm_;
  int threads_ = 1;
  Module<float>* model_ = nullptr;  // the program's model, alive for the whole session
  std::string config_json_;
  std::unique_ptr<AdamW<float>> optimizer_;
  std::unique_ptr<GradientAverager<float>> gradients_;
  Rng data_rng_{1};
  RunState run_;
  std::string log_path_;
  JsonlLog log_;
  Metadata extra_metadata_;
};

// The whole of a training program's main() after flag parsing: runs `body`; an exception is
// printed as "<program>: error: <what>" (with the rank when there are several) and exits 1.
// With several ranks, an error on one rank aborts all of them at once, so none waits forever in
// a collective.
int run_program(const char* program, const std::function<int()>& body);

}  // namespace pf::examples
