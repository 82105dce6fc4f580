#include <cmath>

#include "layers/attention/random_projection.hpp"
#include "test_util.hpp"

using namespace pf;

static double row_dot(const Array<double>& w, std::size_t a, std::size_t b) {
  double s = 0;
  for (std::size_t t = 0; t < w.shape()[1]; ++t) s += w(a, t) * w(b, t);
  return s;
}

TEST_CASE("orthogonal projection: rows of each block are orthogonal, norms sqrt(d)", "[layers][projection]") {
  Rng rng(3);
  const std::size_t m = 11, d = 4;  // two full blocks and a 3-row remainder block
  Array<double> w = draw_orthogonal_projection<double>(m, d, rng, RowNorm::sqrt_d);
  REQUIRE(w.shape()[0] == m);
  REQUIRE(w.shape()[1] == d);
  for (std::size_t a = 0; a < m; ++a) {
    CHECK(row_dot(w, a, a) == Approx(double(d)).epsilon(1e-12));
    for (std::size_t b = 0; b < m; ++b)
      if (a != b && a / d == b / d) CHECK(std::abs(row_dot(w, a, b)) < 1e-12);
  }
  // Rows of different blocks are independent draws, not orthogonal.
  double cross = 0;
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = d; b < 2 * d; ++b) cross = std::max(cross, std::abs(row_dot(w, a, b)));
  CHECK(cross > 1e-3);
}

TEST_CASE("orthogonal projection with chi norms: squared row norms average d", "[layers][projection]") {
  Rng rng(5);
  const std::size_t d = 8, m = 8 * 500;
  Array<double> w = draw_orthogonal_projection<double>(m, d, rng, RowNorm::chi);
  double mean = 0, mean_sq = 0;
  for (std::size_t a = 0; a < m; ++a) {
    const double n2 = row_dot(w, a, a);
    mean += n2 / m;
    mean_sq += n2 * n2 / m;
  }
  // |w|^2 ~ chi^2(d): mean d, variance 2d. Standard error of the mean sqrt(2d / m).
  CHECK(std::abs(mean - double(d)) < 4 * std::sqrt(2.0 * d / m));
  CHECK(mean_sq - mean * mean == Approx(2.0 * d).epsilon(0.15));
  // Orthogonality within a block survives the rescaling.
  CHECK(std::abs(row_dot(w, 0, 1)) < 1e-10);
}

TEST_CASE("iid projection: entries are standard normal", "[layers][projection]") {
  Rng rng(7);
  Array<double> w = draw_gaussian_projection<double>(200, 50, rng);
  double mean = 0, var = 0;
  for (double x : w) mean += x / w.size();
  for (double x : w) var += (x - mean) * (x - mean) / w.size();
  CHECK(std::abs(mean) < 4.0 / std::sqrt(double(w.size())));
  CHECK(var == Approx(1.0).epsilon(0.03));
}

TEST_CASE("RandomProjection: seeded, redraws, state restores the sequence exactly", "[layers][projection]") {
  const ProjectionSpec spec{12, 5, ProjectionKind::orthogonal, RowNorm::chi};
  RandomProjection<float> a(spec, 42), b(spec, 42), c(spec, 43);
  REQUIRE(a.matrix().shape() == Shape{12, 5});
  CHECK(a.matrix().value() == b.matrix().value());
  CHECK(a.matrix().value() != c.matrix().value());
  const Tensor<float> held = a.matrix();  // a holder of the buffer sees redraws in place
  const Array<float> first = a.matrix().value();
  const Array<float> saved_state = a.state().value();
  a.redraw();
  CHECK(a.matrix().value() != first);
  CHECK(held.value() == a.matrix().value());
  // Restoring the saved state into another projection reproduces the next draw.
  RandomProjection<float> restored(spec, 999);
  const_cast<Tensor<float>&>(restored.state()).value() = saved_state;
  restored.redraw();
  CHECK(restored.matrix().value() == a.matrix().value());
  // The state round-trips through float exactly.
  Rng rng(123456789);
  rng.next_u64();
  CHECK(decode_rng_state(encode_rng_state<float>(rng.state())) == rng.state());
}

TEST_CASE("RandomProjection: iid kind and bad arguments", "[layers][projection][errors]") {
  RandomProjection<double> p({7, 3, ProjectionKind::iid, RowNorm::chi}, 1);
  CHECK(p.matrix().shape() == Shape{7, 3});
  CHECK(parse_projection_kind("iid") == ProjectionKind::iid);
  CHECK(parse_projection_kind("orthogonal") == ProjectionKind::orthogonal);
  REQUIRE_THROWS_WITH(parse_projection_kind("gauss"), Catch::Contains("gauss"));
  Rng rng(1);
  REQUIRE_THROWS_WITH(draw_orthogonal_projection<double>(0, 4, rng, RowNorm::chi), Catch::Contains("[0,4]"));
  REQUIRE_THROWS_AS(decode_rng_state(Array<double>(filled_array<double>({3}, 0.0))), std::invalid_argument);
}
