// What every harness shares: the loaders read paths, so each input is written to one file per
// process (in $TMPDIR, else /tmp; rewritten for every input, removed at exit), as it is or
// gzip-compressed first (the *_gzip harnesses, which reach the parsers behind a valid stream).
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

namespace pf::fuzz {

class InputFile {
 public:
  InputFile() {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/pf_fuzz_input_" + std::to_string(::getpid());
  }
  ~InputFile() { std::remove(path_.c_str()); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Writes the bytes and returns the file's path.
  const std::string& write(const std::string& bytes) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr) std::abort();  // the harness cannot run: not a finding in a loader
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
    std::fclose(f);
    return path_;
  }

 private:
  std::string path_;
};

// The harness's one input file.
inline InputFile& input_file() {
  static InputFile file;
  return file;
}

// The bytes as one gzip member (as `gzip` writes them).
inline std::string gzip_bytes(const std::string& bytes) {
  z_stream s{};
  if (deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&s, static_cast<uLong>(bytes.size())) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  s.avail_in = static_cast<uInt>(bytes.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

// The input file holding data[0..size), gzip-compressed first when `gzip` is set.
inline const std::string& write_input(const std::uint8_t* data, std::size_t size, bool gzip) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  return input_file().write(gzip ? gzip_bytes(bytes) : bytes);
}

// A loader's documented error: not a finding. PF_FUZZ_VERBOSE=1 prints it (to see what a seed or
// a regression input is refused for).
inline void refused(const std::exception& e) {
  static const bool verbose = std::getenv("PF_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}

}  // namespace pf::fuzz

// libFuzzer's entry point, defined by each harness (and called by replay_main.cpp without libFuzzer).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
