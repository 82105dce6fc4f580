#include "engine/ops/embedding.hpp"
#include "test_util.hpp"

using namespace pf;
using namespace pf::test;

TEST_CASE("embedding picks table rows, output is ids.shape + D", "[engine][embedding]") {
  auto table = random_tensor({5, 3}, 1);
  auto ids = make_indices({2, 2}, {4, 0, 4, 2});
  auto out = embedding(table, ids);
  REQUIRE(out.shape() == Shape{2, 2, 3});
  for (std::size_t p = 0; p < 4; ++p)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(out.data()[p * 3 + c] == table.value()(static_cast<std::size_t>(ids.data()[p]), c));
  auto one = embedding(table, make_indices({}, {1}));
  REQUIRE(one.shape() == Shape{3});
  CHECK(one.data()[2] == table.value()(1, 2));
}

TEST_CASE("embedding: gradcheck with repeated ids scatter-adds", "[engine][embedding][gradcheck]") {
  auto table = random_tensor({6, 4}, 2);
  auto ids = make_indices({2, 3}, {1, 5, 1, 0, 1, 3});  // id 1 three times, 2 and 4 never
  require_gradcheck([&](const Vec& in) { return embedding(in[0], ids); }, {table});
  auto t = Tensor<double>(table.value(), true);
  embedding(t, ids).backward();  // seed ones: each row's gradient = how often it was picked
  CHECK(t.grad()(1, 0) == 3.0);
  CHECK(t.grad()(2, 3) == 0.0);
  CHECK(t.grad()(5, 1) == 1.0);
}

TEST_CASE("embedding: float32 agrees with float64", "[engine][embedding]") {
  auto table = random_tensor({7, 5}, 3);
  auto ids = make_indices({3}, {6, 0, 3});
  CHECK(max_mixed_error(embedding(to_float(table), ids).value(), embedding(table, ids).value()) < 1e-7);
}

TEST_CASE("embedding: bad ids and tables name the op, the id and V", "[engine][embedding][errors]") {
  auto table = Tensor<double>::zeros({10, 4});
  REQUIRE_THROWS_WITH(embedding(table, make_indices({2, 2}, {0, 1, 12, 3})),
                      Catch::Contains("embedding") && Catch::Contains("id 12") && Catch::Contains("V = 10") &&
                          Catch::Contains("[1,0]"));
  REQUIRE_THROWS_WITH(embedding(table, make_indices({2}, {-1, 0})), Catch::Contains("id -1"));
  REQUIRE_THROWS_WITH(embedding(Tensor<double>::zeros({10}), make_indices({1}, {0})),
                      Catch::Contains("embedding") && Catch::Contains("[10]"));
}
