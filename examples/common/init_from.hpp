// --init-from CHECKPOINT: a new training run (step 0, fresh optimizer, fresh schedule) that starts
// from the weights of another run's checkpoint, written by the same program, possibly with
// another attention kernel. With --attention favor-positive on a checkpoint trained with exact
// attention this is the Performer paper's backwards-compatibility experiment: the softmax
// model's weights, FAVOR+ swapped in, then fine-tuned.
//
// What is copied: every trainable parameter, matched by name and shape. The checkpoint's
// parameters are the tensors its optimizer holds moments for ("<optimizer>.m.<name>"), so its
// buffers and optimizer state are told apart from them exactly. Nothing else is copied: buffers
// (FAVOR's random projections and their generators and redraw counters, dropout generators) are
// the new model's own, drawn fresh from its seed; exact attention has no projection, so a swap
// between exact and FAVOR only changes buffers, never parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "layers/module.hpp"
#include "models/performer_config.hpp"

namespace pf::examples {

struct InitFromSummary {
  std::string path;
  std::int64_t source_step = 0;      // steps the checkpoint's run had trained
  std::string source_attention;      // the checkpoint's attention kernel
  std::size_t tensors = 0, values = 0;  // parameters copied
  bool fresh_projections = false;    // the new model has FAVOR projections (drawn fresh)
  // One line for the program's output, e.g. "init-from runs/a.safetensors (step 500, attention
  // exact): 42 parameter tensors (0.81M values) copied; new run from step 0 with a fresh
  // optimizer; favor-positive random projections drawn fresh (seed 1)".
  std::string line;
};

// Copies the parameters of the training checkpoint at `path` into `model` (built from `config`).
// Checks everything before changing anything, and throws std::invalid_argument naming the file
// and listing every problem: a parameter of the model the checkpoint lacks or the reverse, a
// shape that differs (the tensor and both shapes), a checkpoint of another task (causal flag or
// vocabulary), with the configuration fields that differ as a hint. std::runtime_error for a
// missing or unreadable file, one that is not a training checkpoint, or non-finite values (unless
// allowed). `optimizer_kind` is the optimizer's kind() ("adamw"), the prefix of its state names.
InitFromSummary init_weights_from(const std::string& path, Module<float>& model, const PerformerConfig& config,
                                  const std::string& optimizer_kind);

}  // namespace pf::examples
