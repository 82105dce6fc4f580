// The programs' run checkpoints (save_run) on a full disk and in unwritable places, and the check
// a program makes before training (prepare_checkpoint_location).
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "file_faults.hpp"
#include "layers/mlp.hpp"
#include "temp_dir.hpp"
#include "training_run.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

TEST_CASE("save_run on a full disk keeps the previous run checkpoint", "[examples][training_run][faults]") {
  TempDir dir("run_full");
  Rng rng(6);
  MLP<float> model({8, 64, 64, 4}, Activation::gelu, rng);
  AdamW<float> optimizer(model.named_parameters());
  RunState run;
  run.step = 10;
  run.config_json = "{}";
  const std::string path = dir.file("run.safetensors");
  save_run(path, model, optimizer, run);
  const std::string old_bytes = read_bytes(path);
  run.step = 20;
  {
    FileSizeLimit limit(8192);
    REQUIRE_THROWS_WITH(save_run(path, model, optimizer, run), Contains(path) && Contains(std::strerror(EFBIG)));
  }
  CHECK(read_bytes(path) == old_bytes);
  CHECK(temporary_files_beside(path) == 0);
  CHECK(peek_run(path).step == 10);
}

TEST_CASE("prepare_checkpoint_location makes missing directories and refuses unwritable ones",
          "[examples][training_run][faults]") {
  TempDir dir("run_location");
  const std::string nested = dir.file("runs/today/text.safetensors");
  REQUIRE_NOTHROW(prepare_checkpoint_location(nested));
  CHECK(std::filesystem::is_directory(dir.file("runs/today")));
  CHECK(dir.entry_count() == 1);
  CHECK(std::filesystem::is_empty(dir.file("runs/today")));  // the probe file is gone
  REQUIRE_NOTHROW(prepare_checkpoint_location("plain_name_in_cwd.safetensors"));

  // What killed saves left is removed; other files stay.
  for (const char* name : {"text.safetensors", "text.safetensors.tmp.a1b2c3", "text.safetensors.tmp.zzzzzz",
                           "other.safetensors.tmp.a1b2c3", "text.jsonl"})
    write_bytes(dir.file("runs/today/") + name, "x");
  REQUIRE_NOTHROW(prepare_checkpoint_location(nested));
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("runs/today"))) left.push_back(e.path().filename());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"other.safetensors.tmp.a1b2c3", "text.jsonl", "text.safetensors"});
  std::filesystem::remove_all(dir.file("runs"));
  REQUIRE_NOTHROW(prepare_checkpoint_location(nested));

  for (const UnwritablePath& u : unwritable_paths(dir.path())) {
    if (u.path.find("/missing/") != std::string::npos) continue;  // made, as above
    INFO(u.what << ": " << u.path);
    const std::string reason = std::strerror(create_file_errno(u.path));
    REQUIRE_THROWS_WITH(prepare_checkpoint_location(u.path),
                        Contains("--checkpoint '" + u.path + "'") && Contains(reason));
  }
  // A directory cannot be made under a regular file: that is named too.
  REQUIRE_THROWS_WITH(prepare_checkpoint_location(dir.file("plain/sub/run.safetensors")),
                      Contains("cannot create the directory") && Contains("plain/sub") && Contains(std::strerror(ENOTDIR)));
}
