#include <vector>

#include <catch2/catch.hpp>

#include "engine/kernels/transpose.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

// Transposes a [rows, cols] matrix stored with ld = cols + src_pad into one with ld = rows +
// dst_pad, and checks every element and that the padding of dst is left as it was.
template <class T>
void check_transpose(int rows, int cols, int src_pad, int dst_pad, unsigned seed) {
  const int lds = cols + src_pad, ldd = rows + dst_pad;
  const auto src = pf::test::normal_values<T>(std::size_t(rows) * lds, seed);
  auto dst = pf::test::normal_values<T>(std::size_t(cols) * ldd, seed + 1);
  const std::vector<T> before = dst;
  transpose_into(mat(dst.data(), cols, rows, ldd), mat<const T>(src.data(), rows, cols, lds));
  for (int j = 0; j < cols; ++j) {
    for (int i = 0; i < rows; ++i) REQUIRE(dst[std::size_t(j) * ldd + i] == src[std::size_t(i) * lds + j]);
    for (int i = rows; i < ldd; ++i) REQUIRE(dst[std::size_t(j) * ldd + i] == before[std::size_t(j) * ldd + i]);
  }
}

}  // namespace

TEST_CASE("transpose_into: every element lands in place, on whole and ragged 8 x 8 blocks, padding untouched",
          "[engine][kernels]") {
  unsigned seed = 1;
  const int shapes[][2] = {{1, 1}, {8, 8}, {256, 64}, {256, 33}, {7, 9}, {17, 3}, {1, 40}, {40, 1}, {0, 5}};
  for (const auto& s : shapes)
    for (int src_pad : {0, 3})
      for (int dst_pad : {0, 5}) {
        INFO("rows=" << s[0] << " cols=" << s[1] << " src_pad=" << src_pad << " dst_pad=" << dst_pad);
        check_transpose<float>(s[0], s[1], src_pad, dst_pad, seed++);
        check_transpose<double>(s[0], s[1], src_pad, dst_pad, seed++);
      }
}

TEST_CASE("transpose_into: a destination of the wrong shape throws and names both shapes", "[engine][kernels]") {
  std::vector<float> x(64, 1.0f), y(64, 0.0f);
  const auto src = mat<const float>(x.data(), 4, 6);
  CHECK_THROWS_WITH(transpose_into(mat(y.data(), 4, 6), src), Catch::Contains("[4,6]") && Catch::Contains("cannot hold"));
  CHECK_THROWS_WITH(transpose_into(mat(y.data(), 4, 6).T(), src), Catch::Contains("transposed view"));
  CHECK(y == std::vector<float>(64, 0.0f));  // nothing written before the check
}
