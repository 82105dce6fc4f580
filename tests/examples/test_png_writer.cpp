#include <cstring>

#include <catch2/catch.hpp>
#include <png.h>

#include "examples/fixture_files.hpp"
#include "png_writer.hpp"

using namespace pf::test;
using namespace pf::examples;
using Catch::Matchers::Contains;

namespace {

struct PngHeader {
  std::uint32_t width = 0, height = 0;
  int bit_depth = 0, color_type = -1;
};

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

// The PNG signature, then the first chunk, which must be IHDR: length 13, width, height, depth, colour type.
PngHeader parse_ihdr(const std::string& bytes) {
  static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  REQUIRE(bytes.size() > 33);
  REQUIRE(std::memcmp(bytes.data(), signature, 8) == 0);
  REQUIRE(be32(bytes, 8) == 13);
  REQUIRE(bytes.substr(12, 4) == "IHDR");
  return {be32(bytes, 16), be32(bytes, 20), std::uint8_t(bytes[24]), std::uint8_t(bytes[25])};
}

// Decodes a PNG file to 8-bit gray with libpng's simplified API.
GrayImage read_png_gray(const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, path.c_str()) != 0);
  image.format = PNG_FORMAT_GRAY;
  GrayImage out;
  out.width = image.width;
  out.height = image.height;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr) != 0);
  return out;
}

}  // namespace

TEST_CASE("png_writer: an 8-bit grayscale file with the right header and pixels", "[examples][png]") {
  TempDir dir("png_valid");
  GrayImage image;
  image.width = 7;
  image.height = 5;
  for (std::size_t i = 0; i < 35; ++i) image.pixels.push_back(static_cast<std::uint8_t>(i * 7));
  write_png_gray(dir.file("g.png"), image);

  const PngHeader header = parse_ihdr(read_plain_file(dir.file("g.png")));
  REQUIRE(header.width == 7);
  REQUIRE(header.height == 5);
  REQUIRE(header.bit_depth == 8);
  REQUIRE(header.color_type == 0);  // grayscale
  const GrayImage back = read_png_gray(dir.file("g.png"));
  REQUIRE(back.width == 7);
  REQUIRE(back.height == 5);
  REQUIRE(back.pixels == image.pixels);
}

TEST_CASE("png_writer: bad sizes and unwritable paths", "[examples][png]") {
  TempDir dir("png_errors");
  GrayImage empty;
  REQUIRE_THROWS_AS(write_png_gray(dir.file("e.png"), empty), std::invalid_argument);
  GrayImage wrong;
  wrong.width = 4;
  wrong.height = 3;
  wrong.pixels.resize(11);
  REQUIRE_THROWS_WITH(write_png_gray(dir.file("w.png"), wrong), Contains("11 pixels") && Contains("4x3"));
  wrong.pixels.resize(12);
  REQUIRE_THROWS_WITH(write_png_gray(dir.file("no/such/dir/w.png"), wrong),
                      Contains("no/such/dir/w.png") && Contains("No such file"));
}

TEST_CASE("png_writer: tiling images into a padded, scaled grid", "[examples][png]") {
  // three 2x2 images, two per row, 1 pixel of padding, each pixel drawn 2x2
  const std::vector<std::uint8_t> images = {10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33};
  const GrayImage grid = tile_images(images.data(), 3, 2, 2, 2, 1, 99, 2);
  REQUIRE(grid.width == 11);
  REQUIRE(grid.height == 11);
  auto at = [&](std::size_t x, std::size_t y) { return grid.pixels[y * grid.width + x]; };
  REQUIRE(at(0, 0) == 99);                         // padding
  REQUIRE(at(1, 1) == 10);                         // image 0, pixel (0,0), scaled block
  REQUIRE(at(2, 2) == 10);
  REQUIRE(at(3, 1) == 11);                         // image 0, pixel (0,1)
  REQUIRE(at(4, 4) == 13);                         // image 0, pixel (1,1)
  REQUIRE(at(5, 1) == 99);                         // padding between tiles
  REQUIRE(at(6, 1) == 20);                         // image 1 starts at x = 1 + 4 + 1
  REQUIRE(at(1, 6) == 30);                         // image 2: second grid row
  REQUIRE(at(4, 9) == 33);
  REQUIRE(at(8, 8) == 99);                         // the missing 4th tile stays background
  REQUIRE_THROWS_WITH(tile_images(images.data(), 3, 2, 2, 0), Contains("grid_cols (0)"));
}
