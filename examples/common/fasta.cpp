#include "fasta.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>

#include "gz_file.hpp"

namespace pf::examples {

std::vector<FastaRecord> parse_fasta(const std::string& text, const std::string& source) {
  std::vector<FastaRecord> records;
  std::size_t line_number = 0, pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_number;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty() || line.front() == ';') continue;
    if (line.front() == '>') {
      records.push_back({std::string(line.substr(1)), {}});
      continue;
    }
    if (records.empty())
      throw std::runtime_error(fmt::format("{}: line {}: sequence data before the first '>' header (not FASTA?)",
                                           source, line_number));
    std::string& sequence = records.back().sequence;
    for (char c : line) {
      if (std::isspace(static_cast<unsigned char>(c))) continue;
      sequence.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  for (FastaRecord& r : records)
    if (!r.sequence.empty() && r.sequence.back() == '*') r.sequence.pop_back();
  return records;
}

std::vector<FastaRecord> read_fasta(const std::string& path) {
  const std::string hint =
      path == kDefaultFasta
          ? "This UniProt sample comes with Debian's mmseqs2-examples package (`apt-get install mmseqs2-examples`; "
            "scripts/install_deps.sh installs it), or pass --data FILE with any FASTA file"
          : "pass --data FILE with a FASTA file (plain or .gz); the default is " + kDefaultFasta +
                " from Debian's mmseqs2-examples";
  GzFile file(path, hint);
  std::vector<FastaRecord> records = parse_fasta(file.read_all(), path);
  if (records.empty()) throw std::runtime_error(fmt::format("{}: no FASTA records (empty file?)", path));
  return records;
}

std::string nucleotide_warning(const std::vector<FastaRecord>& records, const std::string& path) {
  std::size_t residues = 0;
  for (const FastaRecord& r : records) {
    if (r.sequence.find_first_not_of("ACGTUN") != std::string::npos) return "";
    residues += r.sequence.size();
  }
  if (residues == 0) return "";
  return fmt::format("{}: all {} residues of its {} records are A, C, G, T, U or N: this looks like DNA or RNA "
                     "(nucleotides), not protein; a protein FASTA file uses the 20 amino-acid letters",
                     path, residues, records.size());
}

// ---- vocabulary ------------------------------------------------------------------------------

std::int64_t ProteinVocab::encode(char letter) {
  const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(letter)));
  for (std::size_t i = 0; i < kNumAmino; ++i)
    if (kAminoAcids[i] == upper) return kFirstAmino + static_cast<std::int64_t>(i);
  return kUnknown;
}

std::vector<std::int64_t> ProteinVocab::encode(const std::string& sequence, bool add_bos, bool add_eos) {
  std::vector<std::int64_t> ids;
  ids.reserve(sequence.size() + 2);
  if (add_bos) ids.push_back(kBos);
  for (char c : sequence) ids.push_back(encode(c));
  if (add_eos) ids.push_back(kEos);
  return ids;
}

std::string ProteinVocab::token(std::int64_t id) {
  static const char* const specials[] = {"<pad>", "<unk>", "<mask>", "<bos>", "<eos>"};
  if (id >= 0 && id < kFirstAmino) return specials[id];
  if (id >= kFirstAmino && id < static_cast<std::int64_t>(kSize)) return std::string(1, kAminoAcids[id - kFirstAmino]);
  throw std::invalid_argument(fmt::format("ProteinVocab::token: id {} is outside [0, {})", id, kSize));
}

std::string ProteinVocab::decode(const std::vector<std::int64_t>& ids) {
  std::string text;
  for (std::int64_t id : ids) text += token(id);
  return text;
}

// ---- split, crops, masks -----------------------------------------------------------------------

SequenceSplit split_by_sequence(const std::vector<FastaRecord>& records, double held_out_fraction,
                                std::uint64_t seed) {
  if (!(held_out_fraction > 0 && held_out_fraction < 1))
    throw std::invalid_argument(
        fmt::format("split_by_sequence: held_out_fraction must be in (0, 1), got {}", held_out_fraction));
  SequenceSplit split;
  std::vector<std::string> unique;
  std::unordered_set<std::string> seen;
  for (const FastaRecord& r : records) {
    if (r.sequence.empty()) continue;
    if (seen.insert(r.sequence).second)
      unique.push_back(r.sequence);
    else
      ++split.duplicates_removed;
  }
  if (unique.size() < 2)
    throw std::invalid_argument(
        fmt::format("split_by_sequence: {} distinct non-empty sequences cannot be split", unique.size()));
  Rng rng(seed);
  for (std::size_t i = unique.size() - 1; i > 0; --i) std::swap(unique[i], unique[rng.below(i + 1)]);
  std::size_t held = static_cast<std::size_t>(held_out_fraction * unique.size() + 0.5);
  held = std::clamp<std::size_t>(held, 1, unique.size() - 1);
  split.held_out.assign(unique.end() - held, unique.end());
  unique.resize(unique.size() - held);
  split.train = std::move(unique);
  return split;
}

std::vector<std::int64_t> crop_tokens(const std::vector<std::int64_t>& tokens, std::size_t length, Rng* rng) {
  std::vector<std::int64_t> out(length, ProteinVocab::kPad);
  std::size_t start = 0;
  if (tokens.size() > length && rng != nullptr) start = rng->below(tokens.size() - length + 1);
  const std::size_t n = std::min(length, tokens.size() - start);
  std::copy(tokens.begin() + start, tokens.begin() + start + n, out.begin());
  return out;
}

MaskedTokens mask_tokens(const Indices& tokens, double rate, Rng& rng, std::int64_t ignore_index) {
  if (!(rate > 0 && rate < 1))
    throw std::invalid_argument(fmt::format("mask_tokens: rate must be in (0, 1), got {}", rate));
  MaskedTokens out{tokens, Indices::from_shape(tokens.shape())};
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int64_t id = tokens.data()[i];
    out.targets.data()[i] = ignore_index;
    if (id < ProteinVocab::kFirstAmino || rng.uniform() >= rate) continue;
    out.targets.data()[i] = id;
    const double action = rng.uniform();
    if (action < 0.8)
      out.inputs.data()[i] = ProteinVocab::kMask;
    else if (action < 0.9)
      out.inputs.data()[i] = ProteinVocab::kFirstAmino + static_cast<std::int64_t>(rng.below(ProteinVocab::kNumStandardAmino));
  }
  return out;
}

}  // namespace pf::examples
