// Saving and loading modules (and training checkpoints) as safetensors files.
//
// save_module writes named_state() (parameters, then buffers, by dotted name) in the module's
// own dtype (F32 for Module<float>, F64 for Module<double>) plus the given metadata.
// load_module reads a file and load_state()s it, so every name and shape is checked and the
// errors name the file. Either dtype loads into either module type: F32 -> double is exact,
// F64 -> float rounds to nearest (so a model trained or checked in double can run in float).
//
// A training checkpoint adds the optimizer's state to the same file: its per-parameter buffers
// as tensors named "<kind>.<slot>.<param>" (e.g. "adam.m.layers.0.weight") and its step count and
// learning rate as metadata ("adam.step", "adam.lr"). Loading one restores module and optimizer
// so training continues bit-exactly.
//
//   pf::save_module(model, "model.safetensors", {{"config", "spirals-mlp"}});
//   pf::load_module(model, "model.safetensors");
//   pf::save_checkpoint("run.safetensors", model, optimizer);
//   pf::load_checkpoint("run.safetensors", model, optimizer);
#pragma once

#include <string>

#include "engine/optim/optimizers.hpp"
#include "engine/io/safetensors.hpp"
#include "layers/module.hpp"

namespace pf {

template <class T>
void save_module(const Module<T>& module, const std::string& path, const Metadata& metadata = {});
// Returns the file's metadata.
template <class T>
Metadata load_module(Module<T>& module, const std::string& path);

template <class T>
void save_checkpoint(const std::string& path, const Module<T>& module, const Optimizer<T>& optimizer,
                     const Metadata& metadata = {});
// Returns the file's metadata (including the optimizer's entries).
template <class T>
Metadata load_checkpoint(const std::string& path, Module<T>& module, Optimizer<T>& optimizer);
// The same from a file already read (e.g. one given the tensors an older format lacked).
template <class T>
Metadata load_checkpoint(const SafetensorsFile& file, Module<T>& module, Optimizer<T>& optimizer);

}  // namespace pf
