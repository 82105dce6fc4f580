#include <filesystem>

#include <catch2/catch.hpp>

#include "examples/fixture_files.hpp"
#include "fashion_mnist.hpp"

using namespace pf;
using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

// An IDX image file's bytes: magic 0x803, count, rows, cols, then `pixels` (may be short or long
// on purpose).
std::string idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                       const std::vector<std::uint8_t>& pixels, std::uint32_t magic = 0x803) {
  std::string bytes;
  append_u32_be(bytes, magic);
  append_u32_be(bytes, count);
  append_u32_be(bytes, rows);
  append_u32_be(bytes, cols);
  bytes.append(pixels.begin(), pixels.end());
  return bytes;
}

std::string idx_labels(const std::vector<std::uint8_t>& labels, std::uint32_t count, std::uint32_t magic = 0x801) {
  std::string bytes;
  append_u32_be(bytes, magic);
  append_u32_be(bytes, count);
  bytes.append(labels.begin(), labels.end());
  return bytes;
}

std::vector<std::uint8_t> pattern(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  return v;
}

}  // namespace

TEST_CASE("fashion_mnist: gzipped IDX images and labels round-trip", "[examples][fashion_mnist]") {
  TempDir dir("idx_valid");
  const auto pixels = pattern(3 * 4 * 5);
  const std::vector<std::uint8_t> labels = {7, 0, 9};
  write_gz_file(dir.file("img.gz"), idx_images(3, 4, 5, pixels));
  write_gz_file(dir.file("lab.gz"), idx_labels(labels, 3));

  const ImageSet set = load_image_set(dir.file("img.gz"), dir.file("lab.gz"));
  REQUIRE(set.count == 3);
  REQUIRE(set.rows == 4);
  REQUIRE(set.cols == 5);
  REQUIRE(set.shape() == Shape{3, 4, 5});
  REQUIRE(set.pixels == pixels);
  REQUIRE(set.labels == labels);
  // image(i) points at the i-th 4x5 block
  REQUIRE(set.image(2)[0] == pixels[40]);
  REQUIRE(set.image(1)[19] == pixels[39]);
}

TEST_CASE("fashion_mnist: uncompressed IDX files read too", "[examples][fashion_mnist]") {
  TempDir dir("idx_plain");
  const auto pixels = pattern(2 * 3 * 3);
  write_plain_file(dir.file("img"), idx_images(2, 3, 3, pixels));
  const ImageSet set = read_idx_images(dir.file("img"));
  REQUIRE(set.pixels == pixels);
}

TEST_CASE("fashion_mnist: the standard file names inside a folder", "[examples][fashion_mnist]") {
  TempDir dir("idx_split");
  write_gz_file(dir.file("t10k-images-idx3-ubyte.gz"), idx_images(2, 2, 2, pattern(8)));
  write_gz_file(dir.file("t10k-labels-idx1-ubyte.gz"), idx_labels({1, 2}, 2));
  const std::string folder = std::filesystem::path(dir.file("x")).parent_path().string();
  REQUIRE(load_fashion_mnist("t10k", folder).count == 2);
  REQUIRE_THROWS_WITH(load_fashion_mnist("test", folder), Contains("\"train\" or \"t10k\""));
  // the train files are not there: the error names the file and the Debian package
  REQUIRE_THROWS_WITH(load_fashion_mnist("train", folder),
                      Contains("train-images-idx3-ubyte.gz") && Contains("dataset-fashion-mnist"));
}

TEST_CASE("fashion_mnist: a missing file names itself and the Debian package", "[examples][fashion_mnist]") {
  TempDir dir("idx_missing");
  REQUIRE_THROWS_AS(read_idx_images(dir.file("nope.gz")), std::runtime_error);
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("nope.gz")),
                      Contains("nope.gz") && Contains("dataset-fashion-mnist") && Contains("No such file"));
}

TEST_CASE("fashion_mnist: wrong magic numbers are reported with both values", "[examples][fashion_mnist]") {
  TempDir dir("idx_magic");
  write_gz_file(dir.file("labels.gz"), idx_labels({1, 2}, 2));
  write_gz_file(dir.file("images.gz"), idx_images(1, 2, 2, pattern(4)));
  write_gz_file(dir.file("junk.gz"), idx_images(1, 2, 2, pattern(4), 0x12345678));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("labels.gz")),
                      Contains("labels.gz") && Contains("0x00000801") && Contains("0x00000803") && Contains("swapped"));
  REQUIRE_THROWS_WITH(read_idx_labels(dir.file("images.gz")), Contains("0x00000803") && Contains("label"));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("junk.gz")), Contains("0x12345678"));
}

TEST_CASE("fashion_mnist: truncated files say how much is missing", "[examples][fashion_mnist]") {
  TempDir dir("idx_truncated");
  // the header announces 3 images of 4x4 (48 bytes) but only 40 follow
  write_gz_file(dir.file("short.gz"), idx_images(3, 4, 4, pattern(40)));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("short.gz")),
                      Contains("short.gz") && Contains("truncated") && Contains("48 bytes") && Contains("only 40"));
  // a header cut inside the rows field
  write_gz_file(dir.file("header.gz"), idx_images(3, 4, 4, {}).substr(0, 10));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("header.gz")), Contains("truncated") && Contains("rows"));
  // labels: 5 announced, 2 present
  write_gz_file(dir.file("labels.gz"), idx_labels({1, 2}, 5));
  REQUIRE_THROWS_WITH(read_idx_labels(dir.file("labels.gz")), Contains("5 bytes") && Contains("only 2"));
}

TEST_CASE("fashion_mnist: a cut-off gzip stream is an error, not a short read", "[examples][fashion_mnist]") {
  TempDir dir("idx_cut_gzip");
  write_gz_file(dir.file("full.gz"), idx_images(20, 8, 8, pattern(20 * 64)));
  const std::string compressed = read_plain_file(dir.file("full.gz"));
  write_plain_file(dir.file("cut.gz"), compressed.substr(0, compressed.size() * 2 / 3));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("cut.gz")), Contains("cut.gz") && Contains("truncated"));
}

TEST_CASE("fashion_mnist: trailing data, zero sizes, count mismatches and bad labels", "[examples][fashion_mnist]") {
  TempDir dir("idx_sizes");
  write_gz_file(dir.file("long.gz"), idx_images(1, 2, 2, pattern(5)));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("long.gz")), Contains("trailing data") && Contains("4 bytes"));
  write_gz_file(dir.file("zero.gz"), idx_images(1, 0, 2, {}));
  REQUIRE_THROWS_WITH(read_idx_images(dir.file("zero.gz")), Contains("row count 0"));

  write_gz_file(dir.file("img.gz"), idx_images(3, 2, 2, pattern(12)));
  write_gz_file(dir.file("two.gz"), idx_labels({1, 2}, 2));
  REQUIRE_THROWS_WITH(load_image_set(dir.file("img.gz"), dir.file("two.gz")),
                      Contains("3 images") && Contains("2 labels") && Contains("two.gz"));
  write_gz_file(dir.file("bad.gz"), idx_labels({1, 12, 2}, 3));
  REQUIRE_THROWS_WITH(load_image_set(dir.file("img.gz"), dir.file("bad.gz")),
                      Contains("label 12 at index 1") && Contains("[0, 10)"));
}

TEST_CASE("fashion_mnist: the installed Debian test split, when present", "[examples][fashion_mnist]") {
  if (!std::filesystem::exists(kFashionMnistDir + "/t10k-images-idx3-ubyte.gz")) {
    // Catch2 2.13 (Debian 12) has no SKIP; ctest reports this test as skipped on this line
    // (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
    WARN("PERFORMER_TEST_SKIPPED: dataset-fashion-mnist is not installed; the real-file check did not run");
    return;
  }
  const ImageSet set = load_fashion_mnist("t10k");
  REQUIRE(set.shape() == Shape{10000, 28, 28});
  std::vector<std::size_t> per_class(10, 0);
  for (std::uint8_t label : set.labels) ++per_class[label];
  for (std::size_t c = 0; c < 10; ++c) REQUIRE(per_class[c] == 1000);  // the test split is balanced
}
