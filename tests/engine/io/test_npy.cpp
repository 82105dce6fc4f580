#include <cstring>

#include "engine/io/npy.hpp"
#include "engine/core/random.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// An npy v1.0 file as numpy writes it: magic, version, 2-byte header length, header, data.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = 8 + (major == 1 ? 2 : 4);
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const std::uint32_t n = static_cast<std::uint32_t>(header.size());
  out.append(reinterpret_cast<const char*>(&n), major == 1 ? 2 : 4);
  return out + header + data;
}

template <class T>
std::string value_bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

}  // namespace

TEST_CASE("npy: float and double arrays round-trip exactly, any rank", "[engine][npy]") {
  TempDir dir;
  Rng rng(1);
  for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 0, 4}, Shape{2, 3, 4, 1}}) {
    INFO(shape_str(shape));
    const Array<float> f = randn_array<float>(shape, rng);
    const Array<double> d = randn_array<double>(shape, rng);
    save_npy(dir.file("f.npy"), f);
    save_npy(dir.file("d.npy"), d);
    const Array<float> f2 = load_npy<float>(dir.file("f.npy"));
    const Array<double> d2 = load_npy<double>(dir.file("d.npy"));
    CHECK(to_shape(f2.shape()) == shape);
    CHECK(to_shape(d2.shape()) == shape);
    CHECK(same_bytes(f2.data(), f.data(), f.size() * 4));
    CHECK(same_bytes(d2.data(), d.data(), d.size() * 8));
    // Across types: float -> double exact, double -> float rounded.
    const Array<double> widened = load_npy<double>(dir.file("f.npy"));
    const Array<float> narrowed = load_npy<float>(dir.file("d.npy"));
    for (std::size_t i = 0; i < f.size(); ++i) CHECK(widened.data()[i] == double(f.data()[i]));
    for (std::size_t i = 0; i < d.size(); ++i) CHECK(narrowed.data()[i] == static_cast<float>(d.data()[i]));
  }
  CHECK(dir.entry_count() == 2);  // no temporary files left
}

TEST_CASE("npy: written header is numpy's v1.0 layout", "[engine][npy]") {
  TempDir dir;
  save_npy(dir.file("a.npy"), filled_array<float>({2, 3}, 1.0f));
  save_npy(dir.file("b.npy"), filled_array<double>({7}, 1.0));
  const std::string a = read_bytes(dir.file("a.npy"));
  const std::string b = read_bytes(dir.file("b.npy"));
  CHECK(a.compare(0, 6, "\x93NUMPY") == 0);
  CHECK(a[6] == 1);
  CHECK(a[7] == 0);
  const std::size_t n = static_cast<unsigned char>(a[8]) | (static_cast<unsigned char>(a[9]) << 8);
  CHECK((10 + n) % 64 == 0);
  CHECK(a[10 + n - 1] == '\n');
  const std::string dict = a.substr(10, n);
  CHECK(dict.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") == 0);
  CHECK(a.size() == 10 + n + 6 * 4);
  CHECK(b.find("'descr': '<f8'") != std::string::npos);
  CHECK(b.find("'shape': (7,)") != std::string::npos);
}

TEST_CASE("npy: reads files written by numpy (v1.0 and v2.0)", "[engine][npy]") {
  TempDir dir;
  write_bytes(dir.file("v1.npy"), npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                           value_bytes<double>({1.5, -2, 3e100})));
  const Array<double> a = load_npy<double>(dir.file("v1.npy"));
  REQUIRE(a.size() == 3);
  CHECK(a(2) == 3e100);
  write_bytes(dir.file("v2.npy"), npy_file("{\"shape\": (2, 1), \"fortran_order\": False, \"descr\": \"<f4\"}",
                                           value_bytes<float>({0.25f, 4.0f}), 2));
  const Array<float> b = load_npy<float>(dir.file("v2.npy"));
  CHECK(to_shape(b.shape()) == Shape{2, 1});
  CHECK(b(1, 0) == 4.0f);
}

TEST_CASE("npy: corrupt files give named errors", "[engine][npy][errors]") {
  TempDir dir;
  const std::string path = dir.file("bad.npy");
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string two = value_bytes<float>({1, 2});
  auto check = [&](const std::string& bytes, const std::string& fragment) {
    write_bytes(path, bytes);
    INFO("expecting: " << fragment);
    try {
      load_npy<float>(path);
      FAIL("no error thrown");
    } catch (const std::runtime_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(path) != std::string::npos);
      CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
  };
  write_bytes(path, npy_file(good_dict, two));
  REQUIRE(load_npy<float>(path)(1) == 2.0f);

  check("\x93NUM", "truncated");
  check("PK\x03\x04 this is a zip file", "bad magic");
  check(npy_file(good_dict, two.substr(0, 6)), "need 8 data bytes, the file has 6");
  check(npy_file(good_dict, two + two), "need 8 data bytes, the file has 16");
  std::string long_header = npy_file(good_dict, two);
  long_header[8] = '\xff';
  long_header[9] = '\x7f';
  check(long_header, "goes beyond the end of the file");
  check(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", two), "cannot parse the header");
  check(npy_file("{'descr': '<f4', 'shape': (2,), }", two), "needs the keys");
  check(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", two), "unsupported dtype '<i8'");
  check(npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", two), "unsupported dtype '>f4'");
  check(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", two), "Fortran");
  check(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", two), "cannot parse the header");
  // No bytes (a size 0), but the other sizes multiply past 2^64: the strides would overflow.
  check(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }", ""),
        "4294967296,4294967296] is too large");
  std::string version9 = npy_file(good_dict, two);
  version9[6] = 9;
  check(version9, "version 9");
  CHECK_THROWS_WITH(load_npy<float>(dir.file("absent.npy")), Catch::Contains("absent.npy"));
}
