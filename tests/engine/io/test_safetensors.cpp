#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

namespace {

// An 8-byte little-endian length, the header text, then the data bytes.
std::string raw_file(const std::string& header, const std::string& data, std::uint64_t length_override = 0) {
  std::uint64_t n = length_override ? length_override : header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
  return out;
}

}  // namespace

TEST_CASE("safetensors: float and double tensors and metadata round-trip exactly", "[engine][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  Rng rng(1);
  NamedArrays<float> f = {{"b.weight", randn_array<float>({3, 4}, rng)},
                          {"a.bias", randn_array<float>({4}, rng)},
                          {"scalar", filled_array<float>({}, 2.5f)},
                          {"empty", empty_array<float>({0, 3})}};
  const Array<double> d = randn_array<double>({2, 2, 3}, rng);
  std::vector<TensorToSave> all;
  for (const auto& [name, a] : f) all.push_back(tensor_to_save(name, a));
  all.push_back(tensor_to_save("double", d));
  save_safetensors(path, all, {{"step", "42"}, {"note", "héllo \"quoted\""}});
  CHECK(dir.entry_count() == 1);  // no temporary file left behind

  const SafetensorsFile file = load_safetensors(path);
  CHECK(file.metadata == Metadata{{"step", "42"}, {"note", "héllo \"quoted\""}});
  REQUIRE(file.tensors.size() == 5);
  // Data-offset order is the order of writing.
  for (std::size_t i = 0; i < 4; ++i) {
    INFO(f[i].first);
    const LoadedTensor& t = file.tensors[i];
    CHECK(t.name == f[i].first);
    CHECK(t.dtype == Dtype::f32);
    CHECK(t.shape == to_shape(f[i].second.shape()));
    REQUIRE(t.f32.size() == f[i].second.size());
    CHECK(same_bytes(t.f32.data(), f[i].second.data(), t.f32.size() * 4));
  }
  const LoadedTensor& td = file.at("double");
  CHECK(td.dtype == Dtype::f64);
  CHECK(td.shape == Shape{2, 2, 3});
  CHECK(same_bytes(td.f64.data(), d.data(), d.size() * 8));
  CHECK(file.find("missing") == nullptr);
  CHECK_THROWS_WITH(file.at("missing"), Catch::Contains("missing") && Catch::Contains(path));
  // Conversions: F32 -> double exact, F64 -> float rounded.
  const Array<double> widened = file.at("b.weight").as<double>();
  CHECK(widened.data()[5] == double(f[0].second.data()[5]));
  const Array<float> narrowed = td.as<float>();
  CHECK(narrowed.data()[3] == static_cast<float>(d.data()[3]));
  CHECK(file.arrays<float>().size() == 5);
}

TEST_CASE("safetensors: the file layout follows the format", "[engine][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  NamedArrays<float> arrays = {{"w", filled_array<float>({2, 3}, 1.5f)}, {"v", filled_array<float>({5}, -1.0f)}};
  save_safetensors(path, arrays, {{"format", "pt"}});
  const std::string bytes = read_bytes(path);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  REQUIRE(bytes.size() == 8 + n + 6 * 4 + 5 * 4);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["__metadata__"]["format"] == "pt");
  CHECK(header["w"]["dtype"] == "F32");
  CHECK(header["w"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(header["w"]["data_offsets"] == nlohmann::json::array({0, 24}));
  CHECK(header["v"]["data_offsets"] == nlohmann::json::array({24, 44}));
  float first_v = 0;
  std::memcpy(&first_v, bytes.data() + 8 + n + 24, 4);
  CHECK(first_v == -1.0f);
}

TEST_CASE("safetensors: saving replaces a file atomically and reports I/O errors", "[engine][safetensors][errors]") {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  save_safetensors(path, NamedArrays<double>{{"a", filled_array<double>({2}, 1.0)}});
  save_safetensors(path, NamedArrays<double>{{"b", filled_array<double>({3}, 2.0)}});
  const SafetensorsFile file = load_safetensors(path);
  REQUIRE(file.tensors.size() == 1);
  CHECK(file.tensors[0].name == "b");
  CHECK(dir.entry_count() == 1);
  CHECK_THROWS_WITH(save_safetensors(dir.file("no/such/dir/m.safetensors"), NamedArrays<double>{}),
                    Catch::Contains("no/such/dir/m.safetensors"));
  CHECK_THROWS_WITH(save_safetensors(path, NamedArrays<double>{{"a", {}}, {"a", {}}}), Catch::Contains("'a'"));
  CHECK_THROWS_AS(save_safetensors(path, NamedArrays<double>{{"__metadata__", {}}}), std::invalid_argument);
  CHECK_THROWS_WITH(load_safetensors(dir.file("absent.safetensors")), Catch::Contains("absent.safetensors"));
}

TEST_CASE("safetensors: every corrupt file gives a named error", "[engine][safetensors][errors]") {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string six_floats = float_bytes({1, 2, 3, 4, 5, 6});
  auto check = [&](const std::string& bytes, const std::string& fragment, const std::string& tensor = "") {
    write_bytes(path, bytes);
    INFO("expecting: " << fragment);
    try {
      load_safetensors(path);
      FAIL("no error thrown");
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find(path) != std::string::npos);
      CHECK(msg.find(fragment) != std::string::npos);
      if (!tensor.empty()) CHECK(msg.find("'" + tensor + "'") != std::string::npos);
    }
  };
  // A valid file to start from.
  const std::string good_header = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  write_bytes(path, raw_file(good_header, six_floats));
  REQUIRE(load_safetensors(path).at("w").f32.data()[5] == 6.0f);

  check("\x05\x00\x00", "truncated");
  check(raw_file(good_header, six_floats, 1000), "header length 1000 goes beyond the end of the file");
  check(raw_file(R"({"w":{"dtype":"F32",)", six_floats), "not valid JSON");
  check(raw_file(R"([1,2,3])", ""), "must start with '{'");
  check(raw_file(good_header, six_floats.substr(0, 20)), "go beyond the data section", "w");  // truncated data
  check(raw_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"v":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
                 six_floats),
        "overlap", "v");
  check(raw_file(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,24]}})", six_floats), "need 16 bytes", "w");
  check(raw_file(R"({"w":{"dtype":"F64","shape":[2,3],"data_offsets":[0,24]}})", six_floats), "need 48 bytes", "w");
  check(raw_file(R"({"w":{"dtype":"BF16","shape":[12],"data_offsets":[0,24]}})", six_floats), "unsupported dtype", "w");
  check(raw_file(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]}})", six_floats), "shape", "w");
  check(raw_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]}})", six_floats), "end before", "w");
  check(raw_file(R"({"w":{"dtype":"F32","shape":[2,3]}})", six_floats), "data_offsets", "w");
  check(raw_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", six_floats.substr(0, 8)),
        "belong to no tensor", "w");
  check(raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", six_floats), "data section has 24 bytes");
  check(raw_file(R"({"__metadata__":{"step":3},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", six_floats),
        "metadata 'step'");
}
