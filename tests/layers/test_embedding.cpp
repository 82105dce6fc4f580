#include "layers/embedding.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("Embedding layer: rows of the table, named weight", "[layers][embedding]") {
  Rng rng(1);
  Embedding<double> emb(7, 4, rng);
  REQUIRE(emb.named_parameters().size() == 1);
  CHECK(emb.named_parameters()[0].first == "weight");
  CHECK(emb.weight().shape() == Shape{7, 4});
  Indices ids = {{3, 0, 3}, {6, 1, 2}};
  auto y = emb(ids);
  REQUIRE(y.shape() == Shape{2, 3, 4});
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t d = 0; d < 4; ++d)
      CHECK(y.data()[i * 4 + d] == emb.weight().data()[std::size_t(ids.data()[i]) * 4 + d]);
}

TEST_CASE("Embedding layer: gradcheck of the table with repeated ids", "[layers][embedding][gradcheck]") {
  Rng rng(2);
  Embedding<double> emb(5, 3, rng);
  Indices ids = {{1, 4, 1, 0}, {4, 4, 2, 1}};
  require_gradcheck([&](const Vec&) { return emb(ids); }, emb.parameters());
}

TEST_CASE("Embedding layer: bad ids and sizes", "[layers][embedding][errors]") {
  Rng rng(3);
  Embedding<float> emb(5, 3, rng);
  CHECK_THROWS_AS(emb(Indices{5}), std::invalid_argument);
  CHECK_THROWS_AS(emb(Indices{-1}), std::invalid_argument);
  CHECK_THROWS_WITH(Embedding<float>(0, 3, rng), Catch::Contains("Embedding"));
}
