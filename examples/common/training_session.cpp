#include "training_session.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "engine/core/memory.hpp"
#include "engine/io/finite.hpp"
#include "engine/kernels/thread_pool.hpp"
#include "layers/dropout.hpp"
#include "flag_checks.hpp"
#include "init_from.hpp"

namespace pf::examples {
namespace {

// FNV-1a over the bytes of every parameter and buffer, in registration order: equal on two
// ranks exactly when they hold the same model state.
std::uint64_t state_fingerprint(const Module<float>& model) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](const Tensor<float>& t) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
    for (std::size_t i = 0; i < t.numel() * sizeof(float); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  };
  for (const auto& [name, t] : model.named_parameters()) mix(t);
  for (const auto& [name, t] : model.named_buffers()) mix(t);
  return h;
}

template <class A>
A rows_of(const A& all, const Shard& rows, const char* what) {
  if (all.dimension() == 0 || rows.begin + rows.count > all.shape()[0])
    throw std::invalid_argument(fmt::format("take_rows: rows [{}, {}) of a {} with {} rows", rows.begin,
                                            rows.begin + rows.count, what, all.dimension() ? all.shape()[0] : 0));
  Shape shape = to_shape(all.shape());
  const std::size_t row = all.size() / std::max<std::size_t>(shape[0], 1);
  shape[0] = rows.count;
  A out;
  out.resize(shape);
  std::copy(all.data() + rows.begin * row, all.data() + (rows.begin + rows.count) * row, out.data());
  return out;
}

}  // namespace

void add_session_flags(CLI::App& app, SessionFlags& flags) {
  add_budget_flags(app, flags.budget);
  app.add_option("--weight-decay", flags.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--threads", flags.threads,
                 "threads per process (engine thread pool and OpenBLAS; 0: the cores shared among the ranks "
                 "on this machine)")
      ->capture_default_str();
  app.add_option("--checkpoint", flags.checkpoint, "checkpoint file (safetensors)")->capture_default_str();
  app.add_flag("--resume", flags.resume, "continue the run saved in --checkpoint (bit-exact)");
  app.add_option("--init-from", flags.init_from,
                 "start a new run (step 0, fresh optimizer) from the weights of this checkpoint of the same program; "
                 "--attention may differ (FAVOR random projections are drawn fresh)");
  app.add_option("--log", flags.log, "JSON-lines curve (default: checkpoint path with .jsonl)");
  app.add_flag("--allow-non-finite", flags.allow_non_finite,
               "resume from a checkpoint holding NaN or Inf, and save such state (refused by default)");
}

Indices take_rows(const Indices& all, const Shard& rows) { return rows_of(all, rows, "batch"); }
Mask take_rows(const Mask& all, const Shard& rows) { return rows_of(all, rows, "mask"); }

TrainingSession::TrainingSession(std::string program, SessionFlags flags)
    : program_(std::move(program)), flags_(std::move(flags)), comm_(world()) {
  if (flags_.threads < 0) throw std::invalid_argument(fmt::format("--threads must be >= 0, got {}", flags_.threads));
  check_budget(flags_.budget);
  threads_ = flags_.threads > 0 ? flags_.threads : default_threads_per_rank(comm_);
  tune_malloc_for_reuse();
  set_num_threads(threads_);
  if (is_root()) examples::warn_if_threads_exceed_cpus(threads_);
  allow_non_finite(flags_.allow_non_finite);
  if (flags_.checkpoint.empty()) throw std::invalid_argument("--checkpoint must name a file");
  if (flags_.resume && !flags_.init_from.empty())
    throw std::invalid_argument(fmt::format(
        "--resume and --init-from '{}' conflict: --resume continues the run saved in --checkpoint '{}' (its step, "
        "optimizer and schedule), --init-from starts a new run from another checkpoint's weights; pass one of them",
        flags_.init_from, flags_.checkpoint));
  if (is_root()) prepare_checkpoint_location(flags_.checkpoint);  // before loading data and building the model
  log_path_ = !flags_.log.empty() ? flags_.log
                                  : std::filesystem::path(flags_.checkpoint).replace_extension(".jsonl").string();
}

void TrainingSession::adopt_resumed_config(PerformerConfig& config) {
  if (!flags_.resume) return;
  run_ = peek_run_to_resume(flags_.checkpoint);
  config = PerformerConfig::from_json(run_.config_json);
}

void TrainingSession::start(Module<float>& model, const PerformerConfig& config) {
  model_ = &model;
  config_json_ = config.to_json();
  AdamOptions adam;
  adam.lr = flags_.budget.lr;
  adam.weight_decay = flags_.weight_decay;
  optimizer_ = std::make_unique<AdamW<float>>(model.named_parameters(), adam);
  data_rng_ = Rng(config.seed * 31 + 17);
  if (flags_.resume) {
    run_ = load_run(flags_.checkpoint, model, *optimizer_);
    data_rng_.set_state(run_.data_rng);
    print("resumed {} at step {} ({} trained)\n", flags_.checkpoint, run_.step, format_duration(run_.elapsed_seconds));
  } else if (!flags_.init_from.empty()) {
    print("{}\n", init_weights_from(flags_.init_from, model, config, optimizer_->kind()).line);
  }
  if (comm_.size() > 1) {
    // Same seed and the same checkpoint give every rank the same state; anything else (another
    // build, a file that changed between the ranks' reads) is caught here, not after hours.
    std::uint64_t mine = state_fingerprint(model), root = mine;
    comm_.broadcast(&root, sizeof root, 0);
    std::vector<double> differ = {mine != root ? 1.0 : 0.0};
    sum_over_ranks(differ);
    if (differ[0] > 0)
      throw std::runtime_error(fmt::format("{} of {} ranks hold other weights or random features than rank 0 (fingerprint "
                                           "{:016x} here, {:016x} on rank 0)",
                                           differ[0], comm_.size(), mine, root));
    gradients_ = std::make_unique<GradientAverager<float>>(comm_, model.named_parameters());
    // Then each rank its own dropout masks for its own rows (rank 0 keeps the seed's stream, which
    // is the one its checkpoints save; a resumed rank r jumps it again to find its own).
    jump_dropout_generators(model, std::size_t(comm_.rank()));
  }
  if (is_root()) log_.open(log_path_, flags_.resume);
}

Shard TrainingSession::shard(std::size_t batch) const {
  check_batch(batch);
  const std::size_t per_rank = batch / std::size_t(comm_.size());
  return {per_rank * std::size_t(comm_.rank()), per_rank};
}

void TrainingSession::check_batch(std::size_t batch) const {
  if (batch == 0) throw std::invalid_argument("--batch must be positive");
  if (batch % std::size_t(comm_.size()) != 0)
    throw std::invalid_argument(fmt::format("--batch {} is the global batch and must divide into {} ranks (try {} or {})",
                                            batch, comm_.size(), batch / comm_.size() * comm_.size(),
                                            (batch / comm_.size() + 1) * comm_.size()));
}

Shard TrainingSession::share_of(std::size_t items) const {
  const std::size_t ranks = std::size_t(comm_.size()), r = std::size_t(comm_.rank());
  const std::size_t base = items / ranks, extra = items % ranks;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

void TrainingSession::sum_over_ranks(std::vector<double>& values) const {
  comm_.allreduce_sum(values.data(), values.size());
}

void TrainingSession::save() {
  if (!is_root()) return;
  run_.data_rng = data_rng_.state();
  run_.config_json = config_json_;
  save_run(flags_.checkpoint, *model_, *optimizer_, run_, extra_metadata_);
}

TrainingSummary TrainingSession::train(TrainingHooks<float> hooks) {
  if (!model_) throw std::logic_error("TrainingSession::train before start()");
  hooks.save = [this] { save(); };
  hooks.checkpoint_path = flags_.checkpoint;
  hooks.comm = &comm_;
  hooks.gradients = gradients_.get();
  if (!flags_.init_from.empty() && run_.step == 0) {
    // The starting point of the new run, before any update (eval mode, as the loop evaluates).
    model_->eval();
    if (hooks.evaluate_line) {
      print("{}\n", hooks.evaluate_line());
    } else if (hooks.evaluate) {
      print("step 0 (the weights of {}, before training):\n", flags_.init_from);
      hooks.evaluate();
    }
    model_->train();
  }
  TrainingSummary summary = train_for_budget(*model_, *optimizer_, run_, flags_.budget, hooks, log_);
  return summary;
}

void TrainingSession::print_footer(const TrainingSummary& summary) const {
  if (!is_root()) return;
  print_run_footer(summary, flags_.checkpoint, log_path_);
  if (comm_.size() > 1)
    fmt::print("ranks: {} ({}), {} threads each; rank 0's memory shown\n", comm_.size(), comm_.backend(), threads_);
}

int run_program(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    Communicator& comm = world();
    if (comm.size() > 1) comm.abort(fmt::format("{}: error: {}", program, e.what()), 1);
    fmt::print(stderr, "{}: error: {}\n", program, e.what());
    return 1;
  }
}

}  // namespace pf::examples
