// Crash-safe file writing for checkpoints: the bytes go to a temporary file in the same
// directory, which is fsync'ed and then renamed over the target, so a reader (or a crash at any
// moment) sees either the old file or the complete new one, never a torn write.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pf {

struct ByteSpan {
  const void* data;
  std::size_t size;
};

// Writes the spans, in order, as the new content of `path`. Throws std::runtime_error naming
// the path and the system error (a missing directory, a read-only file system, a full disk, a
// file-size limit); on failure the temporary file is removed and `path` keeps its old content.
// Only a kill (or a power cut) mid-write leaves the temporary "<path>.tmp.XXXXXX" behind.
void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& parts);

// Throws what write_file_atomically would throw when `path`'s directory takes no new file
// (missing, not a directory, read-only, no permission): a program checks this before hours of
// training rather than at its first save. Creates and removes one empty temporary file.
void require_atomic_write_possible(const std::string& path);

}  // namespace pf
