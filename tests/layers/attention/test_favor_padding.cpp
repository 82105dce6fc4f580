// A padded key's k' row gets no gradient from FAVOR+, but k' may feed other ops too: their
// gradient in the same buffer must survive FAVOR+'s backward (it once zeroed those rows).
#include "layers/attention/favor_attention.hpp"

#include "engine/ops/elementwise.hpp"
#include "engine/ops/reduce.hpp"
#include "test_util.hpp"

using namespace pf;

TEST_CASE("favor causal forms: padded keys' gradient from another consumer of k' is kept", "[favor][padding]") {
  const std::size_t B = 2, L = 6, M = 4, dv = 3;
  Tensor<double> q = exp(test::random_tensor({B, L, M}, 1, 0.3));
  Tensor<double> v = test::random_tensor({B, L, dv}, 3);
  Mask pad = Mask::from_shape({B, L});
  std::fill(pad.begin(), pad.end(), std::uint8_t(0));
  pad(0, 2) = 1;
  pad(1, 5) = 1;
  for (int form = 0; form < 3; ++form) {
    Tensor<double> k = exp(test::random_tensor({B, L, M}, 2, 0.3)).detach();
    k.set_requires_grad(true);
    Tensor<double> attention = form == 0   ? favor_causal(q, k, v, &pad)
                               : form == 1 ? favor_causal_chunked(q, k, v, &pad, 4)
                                           : favor_bidirectional(q, k, v, &pad);
    // d/dk' of sum(k' * 3) is 3 everywhere, padded rows included.
    Tensor<double> loss = add(sum(attention), sum(mul_scalar(k, 3.0)));
    loss.backward();
    INFO("form " << form);
    for (std::size_t m = 0; m < M; ++m) {
      CHECK(k.grad()(0, 2, m) == 3.0);
      CHECK(k.grad()(1, 5, m) == 3.0);
      CHECK(k.grad()(0, 1, m) != 3.0);  // an unpadded key also gets FAVOR+'s term
    }
  }
}
