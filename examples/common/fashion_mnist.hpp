// Fashion-MNIST (or any MNIST-format data): gzipped IDX files read with zlib.
//
// IDX format: a big-endian header (magic 0x00000803 for 3-d unsigned-byte image arrays,
// 0x00000801 for 1-d label arrays; then one 32-bit size per dimension), then the bytes.
// Every header field is validated against the file's real length, so a wrong, corrupt or
// truncated file is reported instead of read as garbage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/tensor.hpp"

namespace pf::examples {

// Where Debian's dataset-fashion-mnist installs the four files.
inline const std::string kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The ten Fashion-MNIST classes, by label.
extern const char* const kFashionMnistClasses[10];

// N grayscale images [N, rows, cols] (row-major bytes, 0 = background) and their labels.
struct ImageSet {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols
  std::vector<std::uint8_t> labels;  // count

  std::size_t image_size() const { return rows * cols; }
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_size(); }
  Shape shape() const { return {count, rows, cols}; }
};

// The images of an IDX image file (magic 0x803): pixels and their shape; labels stay empty.
// Throws std::runtime_error naming the file and what is wrong (missing, wrong magic, sizes,
// truncated or trailing data, corrupt gzip stream).
ImageSet read_idx_images(const std::string& path);
// The labels of an IDX label file (magic 0x801). Same errors.
std::vector<std::uint8_t> read_idx_labels(const std::string& path);

// Images plus labels, with the counts checked against each other and every label < num_classes.
ImageSet load_image_set(const std::string& images_path, const std::string& labels_path,
                        std::size_t num_classes = 10);

// `split` is "train" (60k images) or "t10k" (10k); `dir` holds the four *-ubyte.gz files.
ImageSet load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir);

}  // namespace pf::examples
