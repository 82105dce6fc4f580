// Grayscale PNG output (libpng) and image grids, for sample and completion pictures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pf::examples {

// An 8-bit grayscale picture, row-major, 0 = black.
struct GrayImage {
  std::size_t width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // height * width
};

// Writes `image` as an 8-bit grayscale PNG. Throws std::invalid_argument for an empty image or
// a pixel count that does not match width * height, std::runtime_error naming the path if the
// file cannot be written.
void write_png_gray(const std::string& path, const GrayImage& image);

// Tiles `count` images of rows x cols (row-major, one after another in `images`) into a grid of
// `grid_cols` columns, `padding` pixels of `background` around and between the tiles, each pixel
// drawn as a scale x scale block. Missing tiles of the last row stay background.
GrayImage tile_images(const std::uint8_t* images, std::size_t count, std::size_t rows, std::size_t cols,
                      std::size_t grid_cols, std::size_t padding = 2, std::uint8_t background = 64,
                      std::size_t scale = 1);

}  // namespace pf::examples
