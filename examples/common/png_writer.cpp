#include "png_writer.hpp"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <png.h>

namespace pf::examples {
namespace {

// libpng reports errors by calling this and never returning: keep the message, jump back to
// the setjmp in write_png_gray (exceptions must not unwind through libpng's C frames).
struct PngError {
  char message[256] = "unknown libpng error";
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s", message);
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

// True on success, else false with libpng's message in `error` (which lives in the caller's
// frame, so longjmp cannot leave it indeterminate). Only trivially destructible locals here.
bool write_rows(std::FILE* file, const GrayImage& image, png_bytep* rows, PngError& error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_png_error, on_png_warning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height), 8,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

void write_png_gray(const std::string& path, const GrayImage& image) {
  // PNG limits each side to 2^31 - 1; libpng's default user limit is 1,000,000.
  constexpr std::size_t kMaxSide = 1000000;
  if (image.width == 0 || image.height == 0 || image.width > kMaxSide || image.height > kMaxSide)
    throw std::invalid_argument(fmt::format("write_png_gray: image size {}x{} (width x height) must be 1..{} per side",
                                            image.width, image.height, kMaxSide));
  if (image.pixels.size() != image.width * image.height)
    throw std::invalid_argument(fmt::format("write_png_gray: {} pixels do not fill a {}x{} image ({} expected)",
                                            image.pixels.size(), image.width, image.height,
                                            image.width * image.height));
  std::vector<png_bytep> rows(image.height);
  for (std::size_t y = 0; y < image.height; ++y)
    rows[y] = const_cast<png_bytep>(image.pixels.data() + y * image.width);

  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr)
    throw std::runtime_error(fmt::format("write_png_gray: cannot create '{}': {}", path, std::strerror(errno)));
  PngError error;
  const bool written = write_rows(file, image, rows.data(), error);
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    std::remove(path.c_str());
    throw std::runtime_error(fmt::format("write_png_gray: writing '{}' failed: {}", path,
                                         written ? std::strerror(errno) : error.message));
  }
}

GrayImage tile_images(const std::uint8_t* images, std::size_t count, std::size_t rows, std::size_t cols,
                      std::size_t grid_cols, std::size_t padding, std::uint8_t background, std::size_t scale) {
  if (count == 0 || rows == 0 || cols == 0 || grid_cols == 0 || scale == 0)
    throw std::invalid_argument(fmt::format(
        "tile_images: count ({}), rows ({}), cols ({}), grid_cols ({}) and scale ({}) must all be positive", count,
        rows, cols, grid_cols, scale));
  const std::size_t grid_rows = (count + grid_cols - 1) / grid_cols;
  const std::size_t tile_h = rows * scale, tile_w = cols * scale;
  GrayImage grid;
  grid.width = grid_cols * (tile_w + padding) + padding;
  grid.height = grid_rows * (tile_h + padding) + padding;
  grid.pixels.assign(grid.width * grid.height, background);
  for (std::size_t n = 0; n < count; ++n) {
    const std::uint8_t* image = images + n * rows * cols;
    const std::size_t top = padding + (n / grid_cols) * (tile_h + padding);
    const std::size_t left = padding + (n % grid_cols) * (tile_w + padding);
    for (std::size_t y = 0; y < tile_h; ++y) {
      std::uint8_t* out = grid.pixels.data() + (top + y) * grid.width + left;
      const std::uint8_t* in = image + (y / scale) * cols;
      for (std::size_t x = 0; x < tile_w; ++x) out[x] = in[x / scale];
    }
  }
  return grid;
}

}  // namespace pf::examples
