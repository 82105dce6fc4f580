#include "gz_file.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <zlib.h>

namespace pf::examples {

GzFile::GzFile(const std::string& path, const std::string& missing_hint) : path_(path) {
  errno = 0;
  file_ = gzopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    const std::string reason = errno != 0 ? std::strerror(errno) : "cannot open";
    throw std::runtime_error(fmt::format("{}: {}{}{}", path, reason, missing_hint.empty() ? "" : ". ", missing_hint));
  }
  gzbuffer(static_cast<gzFile>(file_), 1 << 17);
}

GzFile::~GzFile() {
  if (file_ != nullptr) gzclose(static_cast<gzFile>(file_));
}

// zlib reports a cut-off gzip stream as Z_BUF_ERROR and bad data as Z_DATA_ERROR.
void GzFile::check_stream(const char* during) {
  int code = Z_OK;
  std::string message = gzerror(static_cast<gzFile>(file_), &code);
  if (code == Z_OK || code == Z_STREAM_END) return;
  if (message.rfind(path_ + ": ", 0) == 0) message.erase(0, path_.size() + 2);  // zlib names the file too
  if (code == Z_BUF_ERROR)
    throw std::runtime_error(fmt::format("{}: truncated gzip stream while reading {} ({})", path_, during, message));
  throw std::runtime_error(fmt::format("{}: corrupt gzip data while reading {} ({})", path_, during, message));
}

std::size_t GzFile::read(void* buffer, std::size_t n) {
  auto* out = static_cast<char*>(buffer);
  std::size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, INT_MAX / 2));
    const int got = gzread(static_cast<gzFile>(file_), out + done, chunk);
    if (got < 0) check_stream("data");
    if (got <= 0) break;
    done += static_cast<std::size_t>(got);
  }
  check_stream("data");
  return done;
}

void GzFile::read_exact(void* buffer, std::size_t n, const std::string& what) {
  const std::size_t got = read(buffer, n);
  if (got != n)
    throw std::runtime_error(
        fmt::format("{}: truncated file: {} needs {} bytes, only {} present", path_, what, n, got));
}

bool GzFile::has_more() {
  char byte;
  return read(&byte, 1) == 1;
}

std::string GzFile::read_all() {
  std::string text;
  char buffer[1 << 16];
  std::size_t got;
  while ((got = read(buffer, sizeof buffer)) > 0) text.append(buffer, got);
  return text;
}

}  // namespace pf::examples
