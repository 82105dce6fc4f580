#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "engine/io/atomic_file.hpp"
#include "file_faults.hpp"
#include "temp_dir.hpp"

using namespace pf;
using namespace pf::test;
using Catch::Matchers::Contains;

namespace {
void write_string(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, {ByteSpan{bytes.data(), bytes.size()}});
}
}  // namespace

TEST_CASE("write_file_atomically: a write past the file-size limit names the path and the reason, the old file stays",
          "[engine][io][atomic_file][faults]") {
  TempDir dir("atomic_fsize");
  const std::string path = dir.file("weights.bin");
  const std::string old_bytes = "the previous checkpoint";
  write_string(path, old_bytes);
  const std::string big(1 << 16, 'x');
  {
    FileSizeLimit limit(4096);  // the new file stops growing at 4 KB, as on a full disk
    REQUIRE_THROWS_WITH(write_string(path, big),
                        Contains("cannot write") && Contains("'" + path + "'") && Contains(std::strerror(EFBIG)) &&
                            Contains("unchanged"));
    // A file that did not exist is not created half-written either.
    REQUIRE_THROWS_WITH(write_string(dir.file("new.bin"), big), Contains(std::strerror(EFBIG)));
  }
  CHECK(read_bytes(path) == old_bytes);
  CHECK_FALSE(std::filesystem::exists(dir.file("new.bin")));
  CHECK(temporary_files_beside(path) == 0);
  CHECK(dir.entry_count() == 1);
  // Within the limit the same write goes through (the limit, not the code, made it fail).
  write_string(path, big);
  CHECK(read_bytes(path) == big);
}

TEST_CASE("write_file_atomically: directories that take no new file are errors naming the path and the reason",
          "[engine][io][atomic_file][faults]") {
  TempDir dir("atomic_dirs");
  const auto cases = unwritable_paths(dir.path());
  REQUIRE(cases.size() >= 2);  // the missing directory and the regular file fail everywhere
  for (const UnwritablePath& u : cases) {
    INFO(u.what << ": " << u.path);
    const std::string reason = std::strerror(create_file_errno(u.path));
    REQUIRE_THROWS_WITH(write_string(u.path, "bytes"), Contains("'" + u.path + "'") && Contains(reason));
    REQUIRE_THROWS_WITH(require_atomic_write_possible(u.path), Contains("'" + u.path + "'") && Contains(reason));
  }
  CHECK(std::strerror(create_file_errno(dir.file("plain/x"))) == std::string(std::strerror(ENOTDIR)));
  CHECK(std::strerror(create_file_errno(dir.file("missing/x"))) == std::string(std::strerror(ENOENT)));

  // The target itself a directory: the rename is refused and nothing is left behind.
  std::filesystem::create_directory(dir.file("a_directory"));
  REQUIRE_THROWS_WITH(write_string(dir.file("a_directory"), "bytes"),
                      Contains("rename") && Contains(std::strerror(EISDIR)));
  CHECK(temporary_files_beside(dir.file("a_directory")) == 0);

  // A writable place passes the check and keeps no trace of it.
  const std::size_t before = dir.entry_count();
  REQUIRE_NOTHROW(require_atomic_write_possible(dir.file("fine.bin")));
  CHECK(dir.entry_count() == before);
}
