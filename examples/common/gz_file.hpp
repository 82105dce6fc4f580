// Reading a file that may be gzip-compressed: zlib's gzopen reads gzip and plain files alike.
// Errors are std::runtime_error naming the file; a missing file's message can name the Debian
// package that provides it.
#pragma once

#include <cstddef>
#include <string>

namespace pf::examples {

class GzFile {
 public:
  // `missing_hint` is appended to the error when the file cannot be opened (e.g. which Debian
  // package installs it).
  explicit GzFile(const std::string& path, const std::string& missing_hint = "");
  ~GzFile();
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (less than n only at the end of the data).
  // A corrupt or cut-off gzip stream throws.
  std::size_t read(void* buffer, std::size_t n);
  // Reads exactly n bytes or throws "<path>: truncated: <what> needs n bytes, only k present".
  void read_exact(void* buffer, std::size_t n, const std::string& what);
  // True if at least one more byte of data follows (consumes it).
  bool has_more();
  // Everything from the current position to the end.
  std::string read_all();

  const std::string& path() const { return path_; }

 private:
  void check_stream(const char* during);
  std::string path_;
  void* file_ = nullptr;  // gzFile
};

}  // namespace pf::examples
