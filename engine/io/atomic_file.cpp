#include "engine/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace pf {
namespace {

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::runtime_error system_error(const std::string& what, const std::string& path, int err) {
  return std::runtime_error(fmt::format("{} '{}': {} (any file there is unchanged)", what, path, std::strerror(err)));
}

// A new empty file "<path>.tmp.XXXXXX" beside `path` (same directory, so rename() is atomic),
// opened for writing; its name is left in `temp`.
int create_temporary_beside(const std::string& path, std::string& temp) {
  temp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    const int err = errno;
    throw system_error(fmt::format("write_file_atomically: cannot create a temporary file in '{}' for",
                                   directory_of(path)), path, err);
  }
  return fd;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& parts) {
  std::string temp;
  const int fd = create_temporary_beside(path, temp);
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return system_error(what, path, err);
  };
  for (const ByteSpan& part : parts) {
    const char* p = static_cast<const char*>(part.data);
    std::size_t left = part.size;
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw fail("write_file_atomically: cannot write");
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  // mkstemp creates the file 0600; give it the usual permissions (minus the umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) throw fail("write_file_atomically: cannot set permissions of");
  // A full disk may show only here (delayed allocation), as ENOSPC from fsync or close.
  if (::fsync(fd) != 0) throw fail("write_file_atomically: cannot fsync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw system_error("write_file_atomically: cannot close", path, err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw system_error("write_file_atomically: cannot rename the temporary file onto", path, err);
  }
  // Make the rename itself durable; failure here does not undo a completed write, so it is ignored.
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void require_atomic_write_possible(const std::string& path) {
  std::string temp;
  const int fd = create_temporary_beside(path, temp);
  ::close(fd);
  ::unlink(temp.c_str());
}

}  // namespace pf
