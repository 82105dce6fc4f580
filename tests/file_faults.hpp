// Saves that cannot complete, made on purpose: a file-size limit (the process's RLIMIT_FSIZE,
// with SIGXFSZ ignored, so a write past it fails with EFBIG as a full disk fails with ENOSPC),
// and directories that take no new file even for root (tests run as root, where chmod stops
// nothing): a path under a regular file, a missing directory, and sysfs.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace pf::test {

// While alive, files this process writes cannot grow past `bytes`.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &before_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = before_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &before_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit before_{};
  void (*previous_handler_)(int) = SIG_DFL;
};

// Entries of `path`'s directory whose names start with "<file name>.tmp." (what an atomic save
// leaves when it is killed mid-write, and must not leave when it fails).
inline std::size_t temporary_files_beside(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string prefix = p.filename().string() + ".tmp.";
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(p.parent_path(), ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    if (it->path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

// What creating a file at `path` really fails with here (0 if it succeeds): the oracle for the
// reason a save must name, found without the code under test.
inline int create_file_errno(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) return errno;
  ::close(fd);
  ::unlink(path.c_str());
  return 0;
}

struct UnwritablePath {
  std::string what, path;
};

// Checkpoint paths whose directory refuses a new file for root. `dir` is a scratch directory;
// a regular file "plain" is made in it. Only the cases where creating a file really fails here
// are returned (sysfs is left out where it is not mounted).
inline std::vector<UnwritablePath> unwritable_paths(const std::string& dir) {
  const std::string plain = dir + "/plain";
  if (int fd = ::open(plain.c_str(), O_CREAT | O_WRONLY, 0644); fd >= 0) ::close(fd);
  std::vector<UnwritablePath> all = {{"a directory that does not exist", dir + "/missing/run.safetensors"},
                                     {"a path under a regular file", plain + "/run.safetensors"},
                                     {"sysfs, which refuses new files even to root", "/sys/kernel/run.safetensors"}};
  std::vector<UnwritablePath> failing;
  for (const UnwritablePath& u : all)
    if (create_file_errno(u.path + ".probe") != 0) failing.push_back(u);
  return failing;
}

}  // namespace pf::test
