// Replays files through a harness without libFuzzer (the normal test suite, built with g++): every
// file named, and every file in the folders named (sorted, dot files skipped; a missing folder is
// empty), goes to LLVMFuzzerTestOneInput. A crash or sanitizer report fails the test; an input
// that only makes a loader throw its documented error is handled inside the harness. As with
// libFuzzer's -rss_limit_mb=2048, asking for more than 2 GiB is a failure: the address space is
// limited (without ASan, whose shadow memory needs a large one; the ctest entries give ASan
// max_allocation_size_mb instead), so such an allocation throws std::bad_alloc out of the harness.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_input.hpp"

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

int main(int argc, char** argv) {
  if (!kAddressSanitizer) {
    // 2 GiB for the allocations of one input, on top of what the process has mapped at start.
    std::ifstream status("/proc/self/status");
    std::size_t mapped_kb = 0;
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmSize:", 0) == 0) mapped_kb = std::stoull(line.substr(7));
    const rlim_t bytes = (rlim_t(mapped_kb) << 10) + (rlim_t(2) << 30);
    const rlimit limit{bytes, bytes};
    if (setrlimit(RLIMIT_AS, &limit) != 0) std::perror("replay: setrlimit");
  }
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    if (fs::is_directory(arg)) {
      for (const auto& e : fs::directory_iterator(arg))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    } else if (fs::is_regular_file(arg)) {
      files.push_back(arg);
    } else if (fs::exists(arg)) {
      std::fprintf(stderr, "replay: %s is neither a file nor a folder\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::printf("replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs, no crash\n", files.size());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs found (the seed corpus should be there)\n");
    return 1;
  }
  return 0;
}
