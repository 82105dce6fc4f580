#include <stdexcept>

#include <catch2/catch.hpp>

#include "engine/kernels/peak_probe.hpp"

using namespace pf;

TEST_CASE("measure_fma_peak: a plausible ceiling from a short probe", "[engine][peak]") {
  const FmaPeak peak = measure_fma_peak(1, 0.01);
  CHECK(peak.threads == 1);
  CHECK(peak.bursts >= 5);
  CHECK(peak.vector_bits >= 128);
  CHECK(peak.vector_bits % 128 == 0);
  CHECK(peak.burst_seconds > 0);
  CHECK(peak.probe_seconds >= peak.burst_seconds * peak.bursts);
  // One core cannot exceed two FMA units x all lanes x 2 FLOPs at 6 GHz; a probe that counted
  // its FLOPs wrongly (or timed nothing) would. The lower bound is far below any CPU of the
  // last twenty years, even under a sanitizer.
  const double lanes = peak.vector_bits / 32.0;
  CHECK(peak.gflops < 2 * lanes * 2 * 6.0);
  CHECK(peak.gflops > 0.05);
}

TEST_CASE("fma_peak is measured once per thread count and cached", "[engine][peak]") {
  const FmaPeak& first = fma_peak(1);
  const FmaPeak& again = fma_peak(1);
  CHECK(&first == &again);
  CHECK(first.gflops == again.gflops);
  CHECK(first.probe_seconds >= kFmaProbeSeconds);
}

TEST_CASE("measure_fma_peak refuses a thread count below 1 and a non-positive time", "[engine][peak]") {
  CHECK_THROWS_AS(measure_fma_peak(0, 0.01), std::invalid_argument);
  CHECK_THROWS_WITH(measure_fma_peak(0, 0.01), Catch::Contains("threads 0"));
  CHECK_THROWS_AS(measure_fma_peak(1, 0), std::invalid_argument);
}

TEST_CASE("cpu_model_name names something", "[engine][peak]") { CHECK_FALSE(cpu_model_name().empty()); }
