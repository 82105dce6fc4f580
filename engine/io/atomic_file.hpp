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
// the path and the system error; the temporary file is removed on failure.
void write_file_atomically(const std::string& path, const std::vector<ByteSpan>& parts);

}  // namespace pf
