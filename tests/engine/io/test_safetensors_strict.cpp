// The reader is as strict as the reference safetensors reader. Every file here is built byte by
// byte (8-byte little-endian header length, header text, data), so a test does not depend on our
// writer; each refused file names the file and what was wrong in the error.
#include <cstring>
#include <string>

#include "engine/io/safetensors.hpp"
#include "temp_dir.hpp"

using namespace pf;
using namespace pf::test;

namespace {

std::string length_prefix(std::uint64_t n) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out;
}

std::string file_bytes(const std::string& header, const std::string& data) { return length_prefix(header.size()) + header + data; }

std::string float_bytes(int count) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    const float v = 1.0f + float(i);
    out.append(reinterpret_cast<const char*>(&v), 4);
  }
  return out;
}

std::string entry(const std::string& name, const std::string& shape, std::uint64_t begin, std::uint64_t end,
                  const std::string& dtype = "F32") {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

struct StrictFixture {
  TempDir dir;
  std::string path = dir.file("strict.safetensors");

  SafetensorsFile load(const std::string& bytes) {
    write_bytes(path, bytes);
    return load_safetensors(path);
  }
  // The error of loading `bytes`; fails the test if the file loads.
  std::string error_of(const std::string& bytes) {
    write_bytes(path, bytes);
    try {
      load_safetensors(path);
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      INFO(message);
      CHECK(message.find(path) != std::string::npos);
      return message;
    }
    FAIL("the file loaded, but it breaks the format");
    return "";
  }
};

}  // namespace

TEST_CASE_METHOD(StrictFixture, "safetensors strict: a header length above 100 MB is refused before anything is read",
                 "[engine][safetensors][errors]") {
  const std::string header = "{" + entry("w", "[2]", 0, 8) + "}";
  const std::string message = error_of(length_prefix(100'000'001) + header + float_bytes(2));
  CHECK_THAT(message, Catch::Contains("header length 100000001 exceeds the 100000000 byte limit"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: the header starts with '{', trailing spaces are allowed",
                 "[engine][safetensors][errors]") {
  const std::string header = "{" + entry("w", "[2]", 0, 8) + "}";
  CHECK(load(file_bytes(header + "        ", float_bytes(2))).at("w").f32.data()[1] == 2.0f);
  CHECK_THAT(error_of(file_bytes(" " + header, float_bytes(2))), Catch::Contains("must start with '{', it starts with byte 0x20"));
  CHECK_THAT(error_of(file_bytes("\xef\xbb\xbf" + header, float_bytes(2))), Catch::Contains("byte 0xef"));  // a UTF-8 BOM
  CHECK_THAT(error_of(file_bytes("", "")), Catch::Contains("must start with '{'"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: byte ranges tile the data from 0, in any order of the JSON",
                 "[engine][safetensors][errors]") {
  // Listed last-first in the JSON: still read, and returned in offset order.
  const SafetensorsFile reversed =
      load(file_bytes("{" + entry("c", "[1]", 12, 16) + "," + entry("b", "[0]", 12, 12) + "," + entry("a", "[3]", 0, 12) + "}",
                      float_bytes(4)));
  REQUIRE(reversed.tensors.size() == 3);
  CHECK(reversed.tensors[0].name == "a");
  CHECK(reversed.tensors[2].name == "c");
  CHECK(reversed.at("c").f32.data()[0] == 4.0f);

  CHECK_THAT(error_of(file_bytes("{" + entry("a", "[1]", 4, 8) + "," + entry("b", "[1]", 8, 12) + "}", float_bytes(3))),
             Catch::Contains("bytes [0,4)") && Catch::Contains("before tensor 'a'"));
  CHECK_THAT(error_of(file_bytes("{" + entry("b", "[1]", 8, 12) + "," + entry("a", "[1]", 0, 4) + "}", float_bytes(3))),
             Catch::Contains("bytes [4,8)") && Catch::Contains("before tensor 'b'"));
  CHECK_THAT(error_of(file_bytes("{" + entry("b", "[2]", 4, 12) + "," + entry("a", "[2]", 0, 8) + "}", float_bytes(3))),
             Catch::Contains("'a' and 'b' overlap") && Catch::Contains("[4,12]"));
  // Two tensors on the same bytes.
  CHECK_THAT(error_of(file_bytes("{" + entry("a", "[2]", 0, 8) + "," + entry("b", "[2]", 0, 8) + "}", float_bytes(2))),
             Catch::Contains("overlap"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: each range holds exactly numel x dtype size, overflow-checked",
                 "[engine][safetensors][errors]") {
  CHECK_THAT(error_of(file_bytes("{" + entry("w", "[2,2]", 0, 12) + "}", float_bytes(3))),
             Catch::Contains("need 16 bytes") && Catch::Contains("[0,12] hold 12"));
  CHECK_THAT(error_of(file_bytes("{" + entry("w", "[3]", 0, 12, "F64") + "}", float_bytes(3))),
             Catch::Contains("dtype F64 and shape [3] need 24 bytes"));
  // 2^62 x 4 bytes wraps to 0 in 64 bits: an unchecked product would accept an empty range.
  CHECK_THAT(error_of(file_bytes("{" + entry("w", "[4611686018427387904]", 0, 0) + "}", "")),
             Catch::Contains("shape [4611686018427387904] is too large"));
  CHECK_THAT(error_of(file_bytes("{" + entry("w", "[65536,65536,65536,65536]", 0, 0) + "}", "")),
             Catch::Contains("is too large"));
  // A zero dimension makes the tensor empty whatever the others say.
  CHECK(load(file_bytes("{" + entry("w", "[0,4611686018427387904]", 0, 0) + "}", "")).at("w").f32.size() == 0);
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: the data ends exactly at the end of the file",
                 "[engine][safetensors][errors]") {
  const std::string header = "{" + entry("w", "[2]", 0, 8) + "}";
  CHECK_THAT(error_of(file_bytes(header, float_bytes(2) + "x")), Catch::Contains("data section has 9 bytes, but the tensors end at byte 8"));
  CHECK_THAT(error_of(file_bytes(header, float_bytes(1))), Catch::Contains("go beyond the data section (4 bytes)"));
  CHECK_THAT(error_of(file_bytes("{}", "x")), Catch::Contains("data section has 1 bytes"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: duplicate names and keys are refused", "[engine][safetensors][errors]") {
  // nlohmann's parser would keep only the second "w": a file that reads as one tensor.
  CHECK_THAT(error_of(file_bytes("{" + entry("w", "[1]", 0, 4) + "," + entry("w", "[1]", 4, 8) + "}", float_bytes(2))),
             Catch::Contains("tensor name 'w' appears twice"));
  CHECK_THAT(error_of(file_bytes(R"({"__metadata__":{"step":"1","step":"2"},)" + entry("w", "[1]", 0, 4) + "}", float_bytes(1))),
             Catch::Contains("key 'step' appears twice"));
  CHECK_THAT(error_of(file_bytes(R"({"w":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", float_bytes(1))),
             Catch::Contains("key 'dtype' appears twice"));
  CHECK_THAT(error_of(file_bytes(R"({"__metadata__":{},"__metadata__":{}})", "")), Catch::Contains("'__metadata__' appears twice"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: metadata maps strings to strings", "[engine][safetensors][errors]") {
  const std::string tensor = entry("w", "[1]", 0, 4);
  CHECK(load(file_bytes(R"({"__metadata__":{"a":"1","b":""},)" + tensor + "}", float_bytes(1))).metadata ==
        Metadata{{"a", "1"}, {"b", ""}});
  for (const std::string value : {"3", "null", "true", "[\"1\"]", "{\"x\":\"1\"}"}) {
    INFO(value);
    CHECK_THAT(error_of(file_bytes(R"({"__metadata__":{"a":)" + value + "}," + tensor + "}", float_bytes(1))),
               Catch::Contains("metadata 'a' is " + value + ", not a string"));
  }
  CHECK_THAT(error_of(file_bytes(R"({"__metadata__":["a"],)" + tensor + "}", float_bytes(1))),
             Catch::Contains("\"__metadata__\" is not an object"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: no tensor is named __metadata__", "[engine][safetensors][errors]") {
  CHECK_THAT(error_of(file_bytes("{" + entry("__metadata__", "[1]", 0, 4) + "}", float_bytes(1))),
             Catch::Contains("a tensor is named \"__metadata__\""));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: nesting deeper than 64 levels is refused", "[engine][safetensors][errors]") {
  // Unknown fields of an entry are ignored (as the reference reader does), but not without bound.
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  const std::string ok = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":)" + nested(62) + "}}";
  CHECK(load(file_bytes(ok, float_bytes(1))).tensors.size() == 1);
  const std::string deep = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":)" + nested(63) + "}}";
  CHECK_THAT(error_of(file_bytes(deep, float_bytes(1))), Catch::Contains("deeper than 64 levels"));
}

TEST_CASE("safetensors strict: the writer pads the header with spaces to a multiple of 8", "[engine][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("padded.safetensors");
  // Metadata values of 8 lengths give headers of every length modulo 8.
  for (std::size_t extra = 0; extra < 8; ++extra) {
    INFO("metadata value of " << extra << " bytes");
    save_safetensors(path, NamedArrays<float>{{"w", filled_array<float>({3}, 0.5f)}}, {{"note", std::string(extra, 'n')}});
    const std::string bytes = read_bytes(path);
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    REQUIRE(bytes.size() == 8 + n + 12);
    const std::string header = bytes.substr(8, n);
    const std::size_t close = header.find_last_of('}');
    REQUIRE(close != std::string::npos);
    CHECK(n - 1 - close < 8);
    CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);
    CHECK(load_safetensors(path).metadata.at("note") == std::string(extra, 'n'));
  }
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: a number too large for a double is an error, not a crash",
                 "[engine][safetensors][errors]") {
  // nlohmann reports it as out_of_range (406), not as a parse_error; the fuzzer found it.
  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4E888]}})";
  CHECK_THAT(error_of(file_bytes(header, float_bytes(1))), Catch::Contains("header is not valid JSON") &&
                                                              Catch::Contains("number overflow"));
}

TEST_CASE_METHOD(StrictFixture, "safetensors strict: an empty shape whose other sizes overflow is refused",
                 "[engine][safetensors][errors]") {
  // No bytes (a size 0), but 2^32 x 2^32 x 4 bytes overflows: the strides would too.
  const std::string header = R"({"w":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})";
  CHECK_THAT(error_of(file_bytes(header, "")), Catch::Contains("tensor 'w': shape") && Catch::Contains("is too large"));
  const std::string fine = R"({"w":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})";
  CHECK(load(file_bytes(fine, "")).at("w").f32.size() == 0);
}
