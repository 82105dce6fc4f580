#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "examples/fixture_files.hpp"
#include "text_corpus.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

// Lines of verse-like text, with multi-byte UTF-8 (the corpus must not take it for binary).
std::string sample_text(std::size_t lines) {
  std::string text;
  for (std::size_t i = 0; i < lines; ++i)
    text += "  " + std::to_string(i) + " And the earth was without form, and void; caf\xc3\xa9 \xe2\x80\x94 na\xc3\xafve.\n";
  return text;
}

std::string bytes_of(const TextCorpus& corpus) {
  std::string all(corpus.train.begin(), corpus.train.end());
  return all + std::string(corpus.validation.begin(), corpus.validation.end());
}

std::vector<std::uint8_t> to_bytes(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("text corpus: a gzip file is decompressed, found by its magic bytes", "[examples][text_corpus]") {
  TempDir dir("corpus_gzip");
  const std::string text = sample_text(400);
  write_gz_file(dir.file("bible.txt.gz"), text);
  write_gz_file(dir.file("no_extension.txt"), text);  // gzip inside, a text name outside
  for (const char* name : {"bible.txt.gz", "no_extension.txt"}) {
    const TextCorpus corpus = load_text_corpus(dir.file(name));
    REQUIRE(corpus.gzip);
    REQUIRE(bytes_of(corpus) == text);
    REQUIRE(corpus.validation.size() == text.size() - static_cast<std::size_t>(text.size() * 0.9));
    REQUIRE(corpus.warning.empty());
  }
}

TEST_CASE("text corpus: a plain file is read unchanged", "[examples][text_corpus]") {
  TempDir dir("corpus_plain");
  const std::string text = sample_text(50);
  write_plain_file(dir.file("plain.txt"), text);
  const TextCorpus corpus = load_text_corpus(dir.file("plain.txt"));
  REQUIRE_FALSE(corpus.gzip);
  REQUIRE(bytes_of(corpus) == text);
  REQUIRE(corpus.warning.empty());
}

TEST_CASE("text corpus: binary data gets a warning naming the file, text does not", "[examples][text_corpus]") {
  REQUIRE(non_text_report(to_bytes(sample_text(2000)), "verse.txt").empty());
  REQUIRE(non_text_report(to_bytes("tabs\tand\r\nform feeds\f are text\n"), "t.txt").empty());

  std::string nul_heavy;
  for (int i = 0; i < 1000; ++i) nul_heavy += std::string("word") + '\0';
  REQUIRE_THAT(non_text_report(to_bytes(nul_heavy), "data.bin"),
               Contains("'data.bin'") && Contains("does not look like text") && Contains("5000 bytes") &&
                   Contains("1000 NUL"));

  std::string pseudo_random;  // bytes of a linear congruential sequence: control and non-UTF-8 bytes
  std::uint32_t x = 12345;
  for (int i = 0; i < 100000; ++i) pseudo_random += static_cast<char>((x = x * 1103515245u + 12345u) >> 24);
  const std::string report = non_text_report(to_bytes(pseudo_random), "noise.dat");
  REQUIRE_THAT(report, Contains("noise.dat") && Contains("first 65536 bytes") && Contains("not valid UTF-8"));

  // The loader fills the warning in, and still returns the bytes to train on.
  TempDir dir("corpus_binary");
  write_plain_file(dir.file("noise.dat"), pseudo_random);
  const TextCorpus corpus = load_text_corpus(dir.file("noise.dat"));
  REQUIRE_THAT(corpus.warning, Contains("noise.dat") && Contains("does not look like text"));
  REQUIRE(bytes_of(corpus) == pseudo_random);
  // Another compression format is named.
  REQUIRE_THAT(non_text_report(to_bytes("BZh9" + pseudo_random), "x.bz2"), Contains("bzip2"));
}

TEST_CASE("text corpus: corrupt, cut-off, empty and missing files are errors naming the path", "[examples][text_corpus]") {
  TempDir dir("corpus_errors");
  write_plain_file(dir.file("garbage.gz"), std::string("\x1f\x8b", 2) + "this is not deflate data at all");
  REQUIRE_THROWS_WITH(load_text_corpus(dir.file("garbage.gz")), Contains("garbage.gz") && Contains("corrupt gzip"));

  write_gz_file(dir.file("full.gz"), sample_text(2000));
  const std::string compressed = read_plain_file(dir.file("full.gz"));
  write_plain_file(dir.file("cut.gz"), compressed.substr(0, compressed.size() / 2));
  REQUIRE_THROWS_WITH(load_text_corpus(dir.file("cut.gz")), Contains("cut.gz") && Contains("truncated"));

  write_gz_file(dir.file("empty.gz"), "");
  REQUIRE_THROWS_WITH(load_text_corpus(dir.file("empty.gz")), Contains("empty.gz") && Contains("no bytes"));
  write_plain_file(dir.file("empty.txt"), "");
  REQUIRE_THROWS_WITH(load_text_corpus(dir.file("empty.txt")), Contains("empty.txt") && Contains("empty"));
  REQUIRE_THROWS_WITH(load_text_corpus(dir.file("missing.txt")), Contains("missing.txt") && Contains("cannot open"));
}

TEST_CASE("text corpus: the default prompt is a whole line of the held-out text", "[examples][text_corpus]") {
  // The held-out slice starts inside a line: the prompt is the next line, line break included.
  REQUIRE(default_prompt(to_bytes("nd said unto me\nAnd God said, Let there be light\nand there was")) ==
          "And God said, Let there be light\n");
  // Blank lines are skipped.
  REQUIRE(default_prompt(to_bytes("tail\n\n\nChapter 2\n")) == "Chapter 2\n");
  // A line longer than the limit is cut before its last space that fits.
  REQUIRE(default_prompt(to_bytes("x\nIn the beginning God created the heaven and the earth"), 24) ==
          "In the beginning God");
  // ... or exactly at the limit when a space follows it.
  REQUIRE(default_prompt(to_bytes("x\nIn the beginning God created"), 20) == "In the beginning God");
  // No line or word boundary: the first bytes, never half a UTF-8 character.
  REQUIRE(default_prompt(to_bytes("abcdefghij"), 4) == "abcd");
  REQUIRE(default_prompt(to_bytes("ab\xc3\xa9\xc3\xa9"), 3) == "ab");
  REQUIRE(default_prompt(to_bytes("short")) == "short");
  REQUIRE(default_prompt({}).empty());
}

TEST_CASE("text corpus: UTF-8 validation", "[examples][text_corpus]") {
  REQUIRE(is_valid_utf8("plain ASCII"));
  REQUIRE(is_valid_utf8("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80"));
  REQUIRE_FALSE(is_valid_utf8("caf\xe9"));           // Latin-1
  REQUIRE_FALSE(is_valid_utf8("\xc3"));              // cut off
  REQUIRE_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  REQUIRE_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  REQUIRE_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
}
