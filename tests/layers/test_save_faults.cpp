// A save that cannot complete (file-size limit standing in for a full disk, unwritable
// directories) stops with an error naming the path and the reason, and the checkpoint that was
// there stays byte for byte, with no partial file under its name and no temporary file beside it.
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <catch2/catch.hpp>

#include "engine/optim/optimizers.hpp"
#include "file_faults.hpp"
#include "layers/mlp.hpp"
#include "layers/module_io.hpp"
#include "temp_dir.hpp"

using namespace pf;
using namespace pf::test;
using Catch::Matchers::Contains;

namespace {
// Other weights than at construction, so a second save would write other bytes.
void perturb(Module<float>& m) {
  for (auto& [name, p] : m.named_parameters())
    for (std::size_t i = 0; i < p.numel(); ++i) p.data()[i] += 0.5f;
}
}  // namespace

TEST_CASE("save_module and save_checkpoint on a full disk keep the previous file", "[layers][module_io][faults]") {
  TempDir dir("save_full");
  Rng rng(3);
  MLP<float> model({8, 64, 64, 4}, Activation::gelu, rng);  // ~20 KB of weights
  AdamW<float> optimizer(model.named_parameters());
  const std::string weights = dir.file("model.safetensors"), checkpoint = dir.file("run.safetensors");
  save_module(model, weights);
  save_checkpoint(checkpoint, model, optimizer);
  const std::string old_weights = read_bytes(weights), old_checkpoint = read_bytes(checkpoint);
  perturb(model);
  {
    FileSizeLimit limit(8192);
    REQUIRE_THROWS_WITH(save_module(model, weights), Contains(weights) && Contains(std::strerror(EFBIG)));
    REQUIRE_THROWS_WITH(save_checkpoint(checkpoint, model, optimizer),
                        Contains(checkpoint) && Contains(std::strerror(EFBIG)));
  }
  CHECK(read_bytes(weights) == old_weights);
  CHECK(read_bytes(checkpoint) == old_checkpoint);
  CHECK(temporary_files_beside(weights) == 0);
  CHECK(temporary_files_beside(checkpoint) == 0);
  CHECK(dir.entry_count() == 2);
  // The kept file still loads, as the weights before the perturbation.
  Rng other(4);
  MLP<float> loaded({8, 64, 64, 4}, Activation::gelu, other);
  AdamW<float> loaded_optimizer(loaded.named_parameters());
  REQUIRE_NOTHROW(load_checkpoint(checkpoint, loaded, loaded_optimizer));
  save_module(loaded, dir.file("again.safetensors"));
  CHECK(read_bytes(dir.file("again.safetensors")) == old_weights);
}

TEST_CASE("save_module and save_checkpoint into unwritable directories name the path and the reason",
          "[layers][module_io][faults]") {
  TempDir dir("save_unwritable");
  Rng rng(5);
  MLP<float> model({2, 4, 2}, Activation::tanh, rng);
  AdamW<float> optimizer(model.named_parameters());
  for (const UnwritablePath& u : unwritable_paths(dir.path())) {
    INFO(u.what << ": " << u.path);
    const std::string reason = std::strerror(create_file_errno(u.path));
    REQUIRE_THROWS_WITH(save_module(model, u.path), Contains(u.path) && Contains(reason));
    REQUIRE_THROWS_WITH(save_checkpoint(u.path, model, optimizer), Contains(u.path) && Contains(reason));
    CHECK_FALSE(std::filesystem::exists(u.path));
  }
}
