#include <algorithm>
#include <set>

#include <catch2/catch.hpp>

#include "examples/fixture_files.hpp"
#include "fasta.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

// Two records with odd wrapping, blank lines, CRLF, a comment, lower case and a stop codon.
const std::string kMessyFasta =
    "\n"
    ">sp|P1|ONE first protein  \r\n"
    "MKV\r\n"
    "LA\r\n"
    "\r\n"
    "ggw*\n"
    "; a comment line\n"
    ">tr|P2|TWO\n"
    "AC DE\n"
    "F\n"
    "\n"
    "\n"
    ">empty record\n"
    ">tr|P3|THREE\n"
    "XBZUO";

}  // namespace

TEST_CASE("fasta: records with odd wrapping, blank lines and CRLF", "[examples][fasta]") {
  const auto records = parse_fasta(kMessyFasta);
  REQUIRE(records.size() == 4);
  REQUIRE(records[0].header == "sp|P1|ONE first protein");
  REQUIRE(records[0].sequence == "MKVLAGGW");
  REQUIRE(records[1].header == "tr|P2|TWO");
  REQUIRE(records[1].sequence == "ACDEF");
  REQUIRE(records[2].header == "empty record");
  REQUIRE(records[2].sequence.empty());
  REQUIRE(records[3].sequence == "XBZUO");
}

TEST_CASE("fasta: sequence data before any header names the line", "[examples][fasta]") {
  REQUIRE_THROWS_WITH(parse_fasta("\nMKV\n>x\nAA\n", "in.fa"), Contains("in.fa") && Contains("line 2"));
}

TEST_CASE("fasta: plain and gzip files give the same records", "[examples][fasta]") {
  TempDir dir("fasta_files");
  write_plain_file(dir.file("a.fa"), kMessyFasta);
  write_gz_file(dir.file("a.fa.gz"), kMessyFasta);
  const auto plain = read_fasta(dir.file("a.fa"));
  const auto gz = read_fasta(dir.file("a.fa.gz"));
  REQUIRE(plain.size() == 4);
  REQUIRE(gz.size() == plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    REQUIRE(gz[i].header == plain[i].header);
    REQUIRE(gz[i].sequence == plain[i].sequence);
  }
}

TEST_CASE("fasta: missing, empty and cut-off files are errors naming the file", "[examples][fasta]") {
  TempDir dir("fasta_errors");
  REQUIRE_THROWS_WITH(read_fasta(dir.file("none.fa")), Contains("none.fa") && Contains("mmseqs2-examples"));
  write_gz_file(dir.file("empty.fa.gz"), "");
  REQUIRE_THROWS_WITH(read_fasta(dir.file("empty.fa.gz")), Contains("empty.fa.gz") && Contains("no FASTA records"));
  std::string big;
  for (int i = 0; i < 2000; ++i) big += ">s" + std::to_string(i) + "\nMKVLAGGWACDEFHIKLMNPQRSTVWY" + std::to_string(i * 7919) + "\n";
  write_gz_file(dir.file("big.fa.gz"), big);
  const std::string compressed = read_plain_file(dir.file("big.fa.gz"));
  write_plain_file(dir.file("cut.fa.gz"), compressed.substr(0, compressed.size() / 2));
  REQUIRE_THROWS_WITH(read_fasta(dir.file("cut.fa.gz")), Contains("cut.fa.gz") && Contains("truncated"));
}

TEST_CASE("fasta: the protein vocabulary", "[examples][fasta]") {
  REQUIRE(ProteinVocab::kSize == 30);
  REQUIRE(std::string(ProteinVocab::kAminoAcids).size() == ProteinVocab::kNumAmino);
  std::set<std::int64_t> ids;
  for (char c : std::string(ProteinVocab::kAminoAcids)) {
    const std::int64_t id = ProteinVocab::encode(c);
    REQUIRE(id >= ProteinVocab::kFirstAmino);
    REQUIRE(id < std::int64_t(ProteinVocab::kSize));
    REQUIRE(ProteinVocab::encode(char(std::tolower(c))) == id);
    REQUIRE(ProteinVocab::token(id) == std::string(1, c));
    ids.insert(id);
  }
  REQUIRE(ids.size() == 25);
  REQUIRE(ProteinVocab::encode('J') == ProteinVocab::kUnknown);
  REQUIRE(ProteinVocab::encode('-') == ProteinVocab::kUnknown);
  const auto encoded = ProteinVocab::encode("MKj", true, true);
  REQUIRE(encoded.size() == 5);
  REQUIRE(encoded.front() == ProteinVocab::kBos);
  REQUIRE(encoded.back() == ProteinVocab::kEos);
  REQUIRE(ProteinVocab::decode(encoded) == "<bos>MK<unk><eos>");
  REQUIRE(ProteinVocab::token(ProteinVocab::kPad) == "<pad>");
  REQUIRE(ProteinVocab::token(ProteinVocab::kMask) == "<mask>");
  REQUIRE_THROWS_WITH(ProteinVocab::token(30), Contains("id 30"));
  REQUIRE_THROWS_AS(ProteinVocab::token(-1), std::invalid_argument);
}

TEST_CASE("fasta: held-out split by whole sequence, seeded, duplicates removed", "[examples][fasta]") {
  std::vector<FastaRecord> records;
  for (int i = 0; i < 100; ++i) records.push_back({"s" + std::to_string(i), "MK" + std::string(i % 50 + 1, 'A')});
  records.push_back({"empty", ""});
  // 50 distinct sequences, each twice
  const SequenceSplit a = split_by_sequence(records, 0.2, 7);
  const SequenceSplit b = split_by_sequence(records, 0.2, 7);
  const SequenceSplit c = split_by_sequence(records, 0.2, 8);
  REQUIRE(a.duplicates_removed == 50);
  REQUIRE(a.held_out.size() == 10);
  REQUIRE(a.train.size() == 40);
  REQUIRE(a.held_out == b.held_out);
  REQUIRE(a.train == b.train);
  REQUIRE(a.held_out != c.held_out);
  std::set<std::string> train(a.train.begin(), a.train.end()), held(a.held_out.begin(), a.held_out.end());
  REQUIRE(train.size() == 40);
  for (const auto& s : held) REQUIRE(train.count(s) == 0);
  REQUIRE_THROWS_WITH(split_by_sequence(records, 1.0, 1), Contains("held_out_fraction"));
  REQUIRE_THROWS_AS(split_by_sequence({{"a", "MK"}, {"b", "MK"}}, 0.5, 1), std::invalid_argument);
  // tiny sets still keep one sequence on each side
  const SequenceSplit two = split_by_sequence({{"a", "MK"}, {"b", "MA"}}, 0.01, 1);
  REQUIRE(two.train.size() == 1);
  REQUIRE(two.held_out.size() == 1);
}

TEST_CASE("fasta: crops are contiguous windows, padded when short", "[examples][fasta]") {
  std::vector<std::int64_t> tokens(10);
  for (int i = 0; i < 10; ++i) tokens[i] = 5 + i;
  const auto padded = crop_tokens({7, 8, 9}, 5, nullptr);
  REQUIRE(padded == std::vector<std::int64_t>{7, 8, 9, ProteinVocab::kPad, ProteinVocab::kPad});
  REQUIRE(crop_tokens(tokens, 4, nullptr) == std::vector<std::int64_t>{5, 6, 7, 8});
  Rng rng(3);
  std::set<std::int64_t> starts;
  for (int draw = 0; draw < 300; ++draw) {
    const auto crop = crop_tokens(tokens, 4, &rng);
    REQUIRE(crop.size() == 4);
    for (int i = 1; i < 4; ++i) REQUIRE(crop[i] == crop[0] + i);
    starts.insert(crop[0]);
  }
  REQUIRE(starts.size() == 7);  // every offset 0..6 is drawn, the last one included
  REQUIRE(*starts.rbegin() == 11);
}

TEST_CASE("fasta: masked tokens at the requested rate, never on special tokens", "[examples][fasta]") {
  Indices tokens = Indices::from_shape({40, 100});
  Rng fill(5);
  for (std::size_t i = 0; i < tokens.size(); ++i)
    tokens.data()[i] = i % 100 >= 90 ? ProteinVocab::kPad : ProteinVocab::kFirstAmino + std::int64_t(fill.below(25));
  Rng rng(11);
  const MaskedTokens m = mask_tokens(tokens, 0.15, rng);
  REQUIRE(m.inputs.shape() == tokens.shape());
  std::size_t chosen = 0, masked = 0, kept = 0, amino = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int64_t original = tokens.data()[i], input = m.inputs.data()[i], target = m.targets.data()[i];
    if (original < ProteinVocab::kFirstAmino) {
      REQUIRE(target == -100);
      REQUIRE(input == original);
      continue;
    }
    ++amino;
    if (target == -100) {
      REQUIRE(input == original);
      continue;
    }
    REQUIRE(target == original);
    ++chosen;
    masked += input == ProteinVocab::kMask;
    kept += input == original;
    REQUIRE(input < std::int64_t(ProteinVocab::kFirstAmino + ProteinVocab::kNumStandardAmino) + (input == original ? 5 : 0));
  }
  REQUIRE(double(chosen) / amino == Approx(0.15).margin(0.02));
  REQUIRE(double(masked) / chosen == Approx(0.8).margin(0.05));
  REQUIRE(double(kept) / chosen > 0.07);  // 10% kept plus random picks of the same letter
  REQUIRE_THROWS_WITH(mask_tokens(tokens, 0.0, rng), Contains("rate"));
}

TEST_CASE("fasta: nucleotide files get a warning that they look like DNA, proteins do not", "[examples][fasta]") {
  const auto dna = parse_fasta(">chr1 part\nACGTTGCANNACGT\nacgtacgt\n>chr2\nGGGCCCAAATTTN\n");
  REQUIRE_THAT(nucleotide_warning(dna, "genome.fa"),
               Contains("genome.fa") && Contains("looks like DNA") && Contains("35 residues") && Contains("2 records"));
  REQUIRE(nucleotide_warning(parse_fasta(kMessyFasta), "proteins.fa").empty());
  // One protein letter outside A, C, G, T, U, N is enough to be a protein file.
  REQUIRE(nucleotide_warning(parse_fasta(">a\nACGTACGT\n>b\nACGTM\n"), "mixed.fa").empty());
  REQUIRE(nucleotide_warning(parse_fasta(">empty\n"), "empty.fa").empty());
}
