#include "fashion_mnist.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "gz_file.hpp"

namespace pf::examples {

const char* const kFashionMnistClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
// Larger than any real image set, small enough that count * rows * cols cannot overflow.
constexpr std::uint32_t kMaxCount = 1u << 24;
constexpr std::uint32_t kMaxSide = 1u << 12;

std::string missing_hint() {
  return fmt::format(
      "Fashion-MNIST comes with Debian's dataset-fashion-mnist package, installed in {} (`apt-get install "
      "dataset-fashion-mnist`; scripts/install_deps.sh installs it); or pass --data DIR with the four *-ubyte.gz files",
      kFashionMnistDir);
}

std::uint32_t read_u32_be(GzFile& file, const char* field) {
  unsigned char b[4];
  file.read_exact(b, 4, fmt::format("the header field '{}'", field));
  return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | std::uint32_t(b[3]);
}

void check_magic(const GzFile& file, std::uint32_t magic, std::uint32_t expected, const char* kind) {
  if (magic != expected)
    throw std::runtime_error(fmt::format(
        "{}: wrong magic number 0x{:08x}, expected 0x{:08x} for an IDX {} file{}", file.path(), magic, expected, kind,
        magic == (expected == kImagesMagic ? kLabelsMagic : kImagesMagic) ? " (images and labels swapped?)" : ""));
}

void check_size(const GzFile& file, const char* field, std::uint32_t value, std::uint32_t limit) {
  if (value == 0 || value > limit)
    throw std::runtime_error(fmt::format("{}: implausible {} {} in the header (expected 1..{})", file.path(), field,
                                         value, limit));
}

// The `bytes` bytes the header announces, read in pieces so that memory grows with the data
// actually present: a corrupt header announcing gigabytes of a 30-byte file is reported as
// truncated instead of allocated first.
std::vector<std::uint8_t> read_announced(GzFile& file, std::size_t bytes, const std::string& what) {
  constexpr std::size_t kPiece = std::size_t(1) << 20;
  std::vector<std::uint8_t> out;
  while (out.size() < bytes) {
    const std::size_t done = out.size(), piece = std::min(kPiece, bytes - done);
    out.resize(done + piece);
    const std::size_t got = file.read(out.data() + done, piece);
    if (got != piece)
      throw std::runtime_error(fmt::format("{}: truncated file: {} need {} bytes, only {} present", file.path(), what,
                                           bytes, done + got));
  }
  return out;
}

void check_no_trailing_data(GzFile& file, std::size_t expected_bytes) {
  if (file.has_more())
    throw std::runtime_error(fmt::format("{}: trailing data after the {} bytes the header announces (wrong or "
                                         "concatenated file?)",
                                         file.path(), expected_bytes));
}

}  // namespace

ImageSet read_idx_images(const std::string& path) {
  GzFile file(path, missing_hint());
  check_magic(file, read_u32_be(file, "magic"), kImagesMagic, "image");
  const std::uint32_t count = read_u32_be(file, "count");
  const std::uint32_t rows = read_u32_be(file, "rows");
  const std::uint32_t cols = read_u32_be(file, "cols");
  check_size(file, "image count", count, kMaxCount);
  check_size(file, "row count", rows, kMaxSide);
  check_size(file, "column count", cols, kMaxSide);
  ImageSet set;
  set.count = count;
  set.rows = rows;
  set.cols = cols;
  set.pixels = read_announced(file, set.count * set.image_size(), fmt::format("{} images of {}x{} pixels", count, rows, cols));
  check_no_trailing_data(file, set.pixels.size());
  return set;
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  GzFile file(path, missing_hint());
  check_magic(file, read_u32_be(file, "magic"), kLabelsMagic, "label");
  const std::uint32_t count = read_u32_be(file, "count");
  check_size(file, "label count", count, kMaxCount);
  std::vector<std::uint8_t> labels = read_announced(file, count, fmt::format("{} labels", count));
  check_no_trailing_data(file, labels.size());
  return labels;
}

ImageSet load_image_set(const std::string& images_path, const std::string& labels_path, std::size_t num_classes) {
  ImageSet set = read_idx_images(images_path);
  set.labels = read_idx_labels(labels_path);
  if (set.labels.size() != set.count)
    throw std::runtime_error(fmt::format("{} holds {} images but {} holds {} labels: the counts must match",
                                         images_path, set.count, labels_path, set.labels.size()));
  for (std::size_t i = 0; i < set.count; ++i)
    if (set.labels[i] >= num_classes)
      throw std::runtime_error(fmt::format("{}: label {} at index {} is outside [0, {})", labels_path,
                                           int(set.labels[i]), i, num_classes));
  return set;
}

ImageSet load_fashion_mnist(const std::string& split, const std::string& dir) {
  if (split != "train" && split != "t10k")
    throw std::invalid_argument(
        fmt::format("load_fashion_mnist: split must be \"train\" or \"t10k\", got \"{}\"", split));
  return load_image_set(fmt::format("{}/{}-images-idx3-ubyte.gz", dir, split),
                        fmt::format("{}/{}-labels-idx1-ubyte.gz", dir, split));
}

}  // namespace pf::examples
