// What a resumable training run saves beside the weights and optimizer state: progress counters
// and the data generator, as checkpoint metadata (the model's own generators, for dropout masks
// and feature redraws, are buffers in its state). With these restored, a resumed run takes
// exactly the steps (same batches, same dropout masks, same feature redraws) an uninterrupted
// run would have taken. Run checkpoints of the first format (up to commit 07f5aac, with the
// dropout generators in metadata) still load.
#pragma once

#include <cstdint>
#include <string>

#include "engine/optim/optimizers.hpp"
#include "engine/core/random.hpp"
#include "engine/io/safetensors.hpp"
#include "layers/module.hpp"

namespace pf::examples {

struct RunState {
  std::int64_t step = 0;         // optimizer steps taken
  std::int64_t total_steps = 0;  // length of the LR schedule
  double tokens_seen = 0;
  double elapsed_seconds = 0;    // training time so far (excluding evaluation)
  Rng::State data_rng{};
  std::string config_json;       // the model's configuration
};

// Atomic save (temporary file, fsync, rename): a kill during the save leaves the old file intact.
template <class T>
void save_run(const std::string& path, const Module<T>& model, const Optimizer<T>& optimizer, const RunState& run,
              const Metadata& extra = {});

// Restores model and optimizer (names and shapes checked) and returns the run state. Throws
// std::runtime_error naming the file if it is missing, corrupt, or not a training checkpoint.
template <class T>
RunState load_run(const std::string& path, Module<T>& model, Optimizer<T>& optimizer);

// Only the configuration and counters, without loading tensors into a model (to build the
// model before loading). Throws like load_run.
RunState peek_run(const std::string& path);

// --resume, first half: the saved counters and model configuration (the checkpoint's model wins
// over the flags), read before the model is built. Throws naming the file when it is missing.
RunState peek_run_to_resume(const std::string& path);

// --resume, second half: weights, optimizer state and the data generator restored, and a line
// saying where the run resumes.
template <class T>
RunState resume_run(const std::string& path, Module<T>& model, Optimizer<T>& optimizer, Rng& data_rng);

// Before training: creates the checkpoint's directory if missing and checks that a save can
// create its file there, so a path that cannot be written (under a regular file, on a read-only
// file system, without permission) stops the program at once with the path and the reason.
// Removes the temporary files "<path>.tmp.*" that saves killed mid-write left behind.
void prepare_checkpoint_location(const std::string& path);

// Bytes of the largest resident set this process has had (VmHWM), 0 if unknown.
std::size_t peak_rss_bytes();

}  // namespace pf::examples
