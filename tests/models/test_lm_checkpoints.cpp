// Training checkpoints of a Performer LM: resuming gives the same losses, bit for bit, as never
// stopping (dropout masks, feature redraws and optimizer moments included), and a save that is
// killed half-way never destroys the previous checkpoint.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "engine/optim/optimizers.hpp"
#include "layers/module_io.hpp"
#include "models/performer_lm.hpp"
#include "models/tiny_config.hpp"
#include "file_faults.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

PerformerConfig small_config() {
  PerformerConfig c = sized_config(11, 16, 2, 2, 24, 12, 8);
  c.dropout = 0.1;         // dropout generators must be restored
  c.redraw_interval = 3;   // feature redraws must happen at the same steps with the same draws
  c.seed = 5;
  return c;
}

struct Batch {
  Indices ids, targets;
};

Batch random_batch(Rng& rng) {
  Batch b{Indices::from_shape({3, 10}), Indices::from_shape({3, 10})};
  for (auto& v : b.ids) v = static_cast<std::int64_t>(rng.below(11));
  for (auto& v : b.targets) v = static_cast<std::int64_t>(rng.below(11));
  return b;
}

float train_step(PerformerLM<float>& model, AdamW<float>& opt, Rng& data) {
  const Batch b = random_batch(data);
  Tensor<float> loss = model.loss(b.ids, b.targets);
  const float value = loss.item();
  loss.backward();
  clip_grad_norm(model.named_parameters(), 1.0);
  opt.step();
  opt.zero_grad();
  return value;
}

}  // namespace

TEST_CASE("PerformerLM: resume from a checkpoint equals the uninterrupted run", "[models][lm][checkpoint]") {
  // Everything a resumed run needs besides the data generator comes through the ordinary state
  // dict: weights, optimizer moments, feature matrices and their generators, dropout generators.
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  std::vector<float> straight;
  PerformerLM<float> uninterrupted(small_config());
  {
    AdamW<float> opt(uninterrupted.named_parameters());
    Rng data(1);
    for (int s = 0; s < 10; ++s) straight.push_back(train_step(uninterrupted, opt, data));
  }
  std::vector<float> resumed;
  Rng::State data_state{};
  {
    PerformerLM<float> model(small_config());
    AdamW<float> opt(model.named_parameters());
    Rng data(1);
    for (int s = 0; s < 4; ++s) resumed.push_back(train_step(model, opt, data));
    save_checkpoint(path, model, opt);
    data_state = data.state();
  }
  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.find("stack.blocks.0.attention_dropout.rng_state"));
  CHECK(file.find("stack.blocks.1.feed_forward_dropout.rng_state"));
  PerformerConfig other = small_config();
  other.seed = 99;  // different initial weights, features and dropout seeds: everything must come from the file
  PerformerLM<float> model(other);
  {
    AdamW<float> opt(model.named_parameters());
    load_checkpoint(path, model, opt);
    Rng data(0);
    data.set_state(data_state);
    for (int s = 4; s < 10; ++s) resumed.push_back(train_step(model, opt, data));
  }
  REQUIRE(resumed.size() == straight.size());
  for (std::size_t i = 0; i < straight.size(); ++i) {
    INFO("step " << i);
    CHECK(resumed[i] == straight[i]);  // bit-exact
  }
  const NamedTensors<float> a = uninterrupted.named_state(), b = model.named_state();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    const Array<float>& x = a[i].second.value();
    const Array<float>& y = b[i].second.value();
    CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));  // bit-exact, buffers included
  }
}

TEST_CASE("A checkpoint save killed half-way leaves the previous checkpoint loadable", "[models][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  PerformerConfig c = small_config();
  c.width = 256;  // a few MB, so the kill lands during a write
  c.ff_hidden = 1024;
  c.vocab = 256;
  c.depth = 4;
  c.heads = 4;
  PerformerLM<float> model(c);
  AdamW<float> opt(model.named_parameters());
  save_checkpoint(path, model, opt);
  const Array<float> original = model.named_parameters().front().second.value();

  // Kills at varied moments until one lands inside a write, seen by the save's temporary file
  // left beside the checkpoint (a finished or failed save removes or renames it).
  int landed_mid_write = 0, kills = 0;
  for (int attempt = 0; attempt < 20 && landed_mid_write < 2; ++attempt) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Keep overwriting the checkpoint with other weights until killed.
      Tensor<float> w = model.named_parameters().front().second;
      for (int i = 0;; ++i) {
        w.value().fill(float(i + 1));
        save_checkpoint(path, model, opt);
      }
    }
    usleep(useconds_t(60000 + 17000 * attempt));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    ++kills;
    const std::size_t temporaries = temporary_files_beside(path);
    REQUIRE(temporaries <= 1);
    if (temporaries == 1) ++landed_mid_write;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
      if (entry.path().filename().string().rfind("run.safetensors.tmp.", 0) == 0) std::filesystem::remove(entry.path());

    PerformerLM<float> loaded(c);
    AdamW<float> loaded_opt(loaded.named_parameters());
    REQUIRE_NOTHROW(load_checkpoint(path, loaded, loaded_opt));
    // Either the first file or one complete later save: the first weight is uniform then.
    const Array<float>& w = loaded.named_parameters().front().second.value();
    const bool is_original = std::equal(w.begin(), w.end(), original.begin());
    const bool is_complete_later_save = std::all_of(w.begin(), w.end(), [&](float v) { return v == *w.begin() && v >= 1; });
    CHECK((is_original || is_complete_later_save));
  }
  INFO(landed_mid_write << " of " << kills << " kills landed inside a write");
  CHECK(landed_mid_write >= 1);
}
