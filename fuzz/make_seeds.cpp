// Writes the seed corpus: small valid files of every format a harness reads, into
// <out>/<harness>/ (scripts/make_fuzz_seeds.sh runs it into fuzz/corpus). Everything is generated
// here with the project's own writers or byte by byte, from fixed seeds: nothing is downloaded,
// and the same program writes the same bytes.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "engine/io/npy.hpp"
#include "engine/io/safetensors.hpp"
#include "engine/optim/optimizers.hpp"
#include "fuzz_input.hpp"
#include "layers/dropout.hpp"
#include "layers/mlp.hpp"
#include "layers/module_io.hpp"
#include "models/performer_lm.hpp"
#include "training_run.hpp"


namespace {

namespace fs = std::filesystem;
using namespace pf;

void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("make_seeds: cannot write " + path.string());
  std::printf("%6zu bytes  %s\n", bytes.size(), path.c_str());
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A format written by one of our writers (to a path), kept as bytes.
template <class Save>
std::string written_by(const fs::path& scratch, Save save) {
  save(scratch.string());
  std::string bytes = read(scratch);
  fs::remove(scratch);
  return bytes;
}

std::string u32_be(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// The tiny model of the checkpoint seeds (and the size the checkpoint harness builds).
PerformerConfig tiny_config(PositionKind positions, AttentionKernel attention, double dropout) {
  PerformerConfig c;
  c.vocab = 8;
  c.width = 4;
  c.depth = 1;
  c.heads = 2;
  c.ff_hidden = 8;
  c.context = 4;
  c.features = 2;
  c.positions = positions;
  c.attention = attention;
  c.dropout = dropout;
  return c;
}

void safetensors_seeds(const fs::path& out, const fs::path& scratch) {
  Rng rng(1);
  MLP<float> model({3, 4, 2}, Activation::tanh, rng);  // the model fuzz_safetensors loads into
  write(out / "safetensors" / "mlp.safetensors",
        written_by(scratch, [&](const std::string& p) { save_module(model, p, {{"arch", "mlp"}}); }));
  const Array<double> d = randn_array<double>({2, 3}, rng);
  const Array<float> scalar = filled_array<float>({}, 2.5f), empty = empty_array<float>({0, 3});
  write(out / "safetensors" / "mixed.safetensors", written_by(scratch, [&](const std::string& p) {
          save_safetensors(p, {tensor_to_save("d", d), tensor_to_save("s", scalar), tensor_to_save("e", empty)},
                           {{"note", "seed"}});
        }));
}

void checkpoint_seeds(const fs::path& out, const fs::path& scratch) {
  struct Variant {
    const char* name;
    PerformerConfig config;
  } variants[] = {{"favor_learned", tiny_config(PositionKind::learned, AttentionKernel::favor_positive, 0.0)},
                  {"exact_rotary_dropout", tiny_config(PositionKind::rotary, AttentionKernel::exact, 0.25)}};
  for (const Variant& v : variants) {
    PerformerLM<float> model(v.config);
    AdamW<float> optimizer(model.named_parameters());
    examples::RunState run;
    run.step = 3;
    run.total_steps = 10;
    run.tokens_seen = 24;
    run.elapsed_seconds = 0.5;
    run.data_rng = Rng(9).state();
    run.config_json = v.config.to_json();
    write(out / "checkpoint" / fmt::format("{}.safetensors", v.name), written_by(scratch, [&](const std::string& p) {
            examples::save_run(p, model, optimizer, run, {{"prompt", "And"}});
          }));
  }
  // The first run format (up to commit 07f5aac): marker 1, dropout generators in metadata, no
  // "<module>.rng_state" tensors.
  const PerformerConfig config = variants[1].config;
  PerformerLM<float> model(config);
  AdamW<float> optimizer(model.named_parameters());
  const std::string suffix = std::string(".") + Dropout<float>::kStateBuffer;
  std::vector<TensorToSave> tensors;
  std::string dropout_rngs;
  for (const auto& [name, tensor] : model.named_state()) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      dropout_rngs += (dropout_rngs.empty() ? "" : ";") + rng_state_to_string(Rng(tensors.size()).state());
      continue;
    }
    tensors.push_back(tensor_to_save(name, tensor.value()));
  }
  const OptimizerState<float> state = optimizer.export_state();
  for (const auto& [name, array] : state.arrays) tensors.push_back(tensor_to_save(name, array));
  Metadata metadata = state.scalars;
  metadata.insert({{"performer.run", "1"}, {"run.step", "0"}, {"run.total_steps", "10"}, {"run.tokens_seen", "0"},
                   {"run.elapsed_seconds", "0"}, {"run.data_rng", rng_state_to_string(Rng(2).state())},
                   {"run.dropout_rngs", dropout_rngs}, {"config", config.to_json()}});
  write(out / "checkpoint" / "format1_dropout.safetensors",
        written_by(scratch, [&](const std::string& p) { save_safetensors(p, tensors, metadata); }));
}

void npy_seeds(const fs::path& out, const fs::path& scratch) {
  Rng rng(2);
  const Array<float> f = randn_array<float>({2, 3}, rng);
  const Array<double> d = randn_array<double>({4}, rng);
  const Array<float> s = filled_array<float>({}, -1.5f);
  write(out / "npy" / "f4_2x3.npy", written_by(scratch, [&](const std::string& p) { save_npy(p, f); }));
  write(out / "npy" / "f8_4.npy", written_by(scratch, [&](const std::string& p) { save_npy(p, d); }));
  write(out / "npy" / "f4_scalar.npy", written_by(scratch, [&](const std::string& p) { save_npy(p, s); }));
}

void idx_seeds(const fs::path& out) {
  std::string images = u32_be(0x803) + u32_be(2) + u32_be(3) + u32_be(3);
  for (int i = 0; i < 18; ++i) images += char(i * 14);
  std::string labels = u32_be(0x801) + u32_be(2) + std::string{char(3), char(9)};
  write(out / "idx" / "images-idx3-ubyte", images);
  write(out / "idx" / "labels-idx1-ubyte", labels);
  write(out / "idx" / "images-idx3-ubyte.gz", fuzz::gzip_bytes(images));
  write(out / "idx" / "labels-idx1-ubyte.gz", fuzz::gzip_bytes(labels));
  write(out / "idx_gzip" / "images-idx3-ubyte", images);  // fuzz_idx_gzip compresses them
  write(out / "idx_gzip" / "labels-idx1-ubyte", labels);
}

void fasta_seeds(const fs::path& out) {
  const std::string protein =
      ";a comment line\n"
      ">sp|P00001|SEED_ONE first record\n"
      "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n"
      "APILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ*\n"
      "\n"
      ">sp|P00002|SEED_TWO\r\n"
      "mkvlaagivgLLLAX\r\n"
      "BZUO\r\n";
  const std::string dna = ">chr1\nACGTACGTNN\nacgtu\n>chr2\nGGCCAATT\n";
  write(out / "fasta" / "protein.fasta", protein);
  write(out / "fasta" / "dna.fasta", dna);
  write(out / "fasta" / "protein.fasta.gz", fuzz::gzip_bytes(protein));
  write(out / "fasta_gzip" / "protein.fasta", protein);
  write(out / "fasta_gzip" / "dna.fasta", dna);
}

void text_seeds(const fs::path& out) {
  const std::string text =
      "In the beginning the seed was small, and the fuzzer mutated it.\n"
      "Every line of this corpus is our own sentence, written for the tests.\n"
      "Caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 some UTF-8, tabs\tand form feeds\f too.\n"
      "The last line is held out for validation, and the prompt comes from it.\n";
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += char((i * 37) & 0xff);
  write(out / "text" / "sentences.txt", text);
  write(out / "text" / "sentences.txt.gz", fuzz::gzip_bytes(text));
  write(out / "text" / "binary.bin", binary);
  write(out / "text_gzip" / "sentences.txt", text);
  write(out / "text_gzip" / "binary.bin", binary);
}

void config_seeds(const fs::path& out) {
  write(out / "config" / "default.json", PerformerConfig().to_json());
  write(out / "config" / "tiny_exact_rotary.json",
        tiny_config(PositionKind::rotary, AttentionKernel::exact, 0.1).to_json());
  write(out / "config" / "partial.json", R"({"width": 64, "heads": 2, "attention": "favor-relu", "causal": false})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUT_DIR   (writes OUT_DIR/<harness>/...)\n");
    return 2;
  }
  try {
    const fs::path out = argv[1];
    fs::create_directories(out);
    const fs::path scratch = out / ".scratch";
    safetensors_seeds(out, scratch);
    checkpoint_seeds(out, scratch);
    npy_seeds(out, scratch);
    idx_seeds(out);
    fasta_seeds(out);
    text_seeds(out);
    config_seeds(out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
