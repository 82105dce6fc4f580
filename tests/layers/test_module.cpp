#include "layers/linear.hpp"
#include "layers/module.hpp"
#include "test_util.hpp"

using namespace pf;

namespace {

// A two-level model: an attention-like block with projections and a buffer, stacked in a list.
struct Attn : Module<double> {
  std::shared_ptr<Linear<double>> q_proj, k_proj;
  Tensor<double> projection;
  explicit Attn(Rng& rng) {
    q_proj = register_module("q_proj", std::make_shared<Linear<double>>(4, 4, rng));
    k_proj = register_module("k_proj", std::make_shared<Linear<double>>(4, 4, rng, false));
    projection = register_buffer("projection", Tensor<double>::full({3, 4}, 0.5));
  }
};
struct Block : Module<double> {
  Tensor<double> scale;
  std::shared_ptr<Attn> attn;
  explicit Block(Rng& rng) {
    scale = register_parameter("scale", Tensor<double>::ones({4}));
    attn = register_module("attn", std::make_shared<Attn>(rng));
  }
};
struct Net : Module<double> {
  std::shared_ptr<ModuleList<double, Block>> blocks;
  Tensor<double> head;
  explicit Net(Rng& rng) {
    head = register_parameter("head", Tensor<double>::zeros({2, 4}));
    blocks = register_module("blocks", std::make_shared<ModuleList<double, Block>>());
    blocks->push_back(std::make_shared<Block>(rng));
    blocks->push_back(std::make_shared<Block>(rng));
  }
};

std::vector<std::string> names_of(const NamedTensors<double>& list) {
  std::vector<std::string> names;
  for (const auto& entry : list) names.push_back(entry.first);
  return names;
}

NamedArrays<double> arrays_of(const NamedTensors<double>& list) {
  NamedArrays<double> out;
  for (const auto& [name, t] : list) out.emplace_back(name, t.value());
  return out;
}

}  // namespace

TEST_CASE("Module: nested dotted names in registration order", "[layers][module]") {
  Rng rng(1);
  Net net(rng);
  const std::vector<std::string> params = {
      "head",
      "blocks.0.scale", "blocks.0.attn.q_proj.weight", "blocks.0.attn.q_proj.bias", "blocks.0.attn.k_proj.weight",
      "blocks.1.scale", "blocks.1.attn.q_proj.weight", "blocks.1.attn.q_proj.bias", "blocks.1.attn.k_proj.weight"};
  CHECK(names_of(net.named_parameters()) == params);
  CHECK(names_of(net.named_buffers()) ==
        std::vector<std::string>{"blocks.0.attn.projection", "blocks.1.attn.projection"});
  std::vector<std::string> state = params;
  state.push_back("blocks.0.attn.projection");
  state.push_back("blocks.1.attn.projection");
  CHECK(names_of(net.named_state()) == state);
  // Parameters are shared handles that require grad; buffers do not.
  for (auto& [name, t] : net.named_parameters()) CHECK(t.requires_grad());
  for (auto& [name, t] : net.named_buffers()) CHECK_FALSE(t.requires_grad());
  CHECK(net.named_parameters()[1].second.same_node((*net.blocks)[0].scale));
  CHECK(net.parameter_count() == 8 + 2 * (4 + 16 + 4 + 16));
  CHECK(net.parameters().size() == params.size());
  CHECK(net.blocks->size() == 2);
  CHECK_THROWS_AS(net.blocks->at(2), std::out_of_range);
}

TEST_CASE("Module: train/eval is recursive and children follow their parent", "[layers][module]") {
  Rng rng(2);
  Net net(rng);
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE((*net.blocks)[1].attn->q_proj->is_training());
  net.train();
  CHECK((*net.blocks)[1].attn->q_proj->is_training());
  net.eval();
  net.blocks->push_back(std::make_shared<Block>(rng));  // registered into an eval-mode parent
  CHECK_FALSE((*net.blocks)[2].attn->k_proj->is_training());
}

TEST_CASE("Module: zero_grad clears every parameter gradient", "[layers][module]") {
  Rng rng(3);
  Net net(rng);
  for (auto& t : net.parameters()) std::fill(t.grad_mut().begin(), t.grad_mut().end(), 1.0);
  net.zero_grad();
  for (auto& t : net.parameters())
    for (double g : t.grad()) CHECK(g == 0.0);
}

TEST_CASE("Module: registration errors", "[layers][module][errors]") {
  struct Bad : Module<double> {
    void add(const std::string& name) { register_parameter(name, Tensor<double>::zeros({1})); }
    void add_buffer(const std::string& name, bool grad) {
      register_buffer(name, Tensor<double>::zeros({1}, grad));
    }
  } m;
  m.add("w");
  CHECK_THROWS_WITH(m.add("w"), Catch::Contains("'w'") && Catch::Contains("already registered"));
  CHECK_THROWS_WITH(m.add("a.b"), Catch::Contains("'a.b'"));
  CHECK_THROWS_AS(m.add(""), std::invalid_argument);
  CHECK_THROWS_WITH(m.add_buffer("w", false), Catch::Contains("already registered"));
  CHECK_THROWS_WITH(m.add_buffer("buf", true), Catch::Contains("requires grad"));
}

TEST_CASE("Module: load_state copies in place and round-trips", "[layers][module]") {
  Rng rng_a(4), rng_b(5);
  Net a(rng_a), b(rng_b);
  a.blocks->at(1).attn->projection.value().fill(7.0);
  const Tensor<double> b_weight = b.blocks->at(0).attn->q_proj->weight();  // a handle held by b
  b.load_state(arrays_of(a.named_state()), "a's state");
  auto sa = a.named_state(), sb = b.named_state();
  REQUIRE(sa.size() == sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    REQUIRE(sa[i].second.numel() == sb[i].second.numel());
    CHECK_FALSE(sa[i].second.same_node(sb[i].second));
    for (std::size_t j = 0; j < sa[i].second.numel(); ++j) CHECK(sa[i].second.data()[j] == sb[i].second.data()[j]);
  }
  // The handle b held before loading sees the new values.
  CHECK(b_weight.data()[0] == a.blocks->at(0).attn->q_proj->weight().data()[0]);
  CHECK(b.blocks->at(1).attn->projection.data()[5] == 7.0);
}

TEST_CASE("Module: load_state errors name the tensor, the shapes and the source", "[layers][module][errors]") {
  Rng rng(6);
  Net net(rng);
  const NamedArrays<double> good = arrays_of(net.named_state());
  const double before = net.head.data()[0];

  NamedArrays<double> wrong_shape = good;
  wrong_shape[0].second = filled_array<double>({4, 2}, 1.0);  // "head" is [2,4]
  CHECK_THROWS_WITH(net.load_state(wrong_shape, "ckpt.safetensors"),
                    Catch::Contains("'head'") && Catch::Contains("[4,2]") && Catch::Contains("[2,4]") &&
                        Catch::Contains("ckpt.safetensors"));
  CHECK(net.head.data()[0] == before);

  NamedArrays<double> missing = good;
  missing.erase(missing.begin() + 3);  // blocks.0.attn.q_proj.bias
  CHECK_THROWS_WITH(net.load_state(missing, "ckpt.safetensors"),
                    Catch::Contains("missing") && Catch::Contains("blocks.0.attn.q_proj.bias") &&
                        Catch::Contains("ckpt.safetensors"));

  NamedArrays<double> extra = good;
  extra.emplace_back("blocks.0.attn.v_proj.weight", filled_array<double>({4, 4}, 1.0));
  CHECK_THROWS_WITH(net.load_state(extra, "ckpt.safetensors"),
                    Catch::Contains("unexpected") && Catch::Contains("blocks.0.attn.v_proj.weight"));

  NamedArrays<double> twice = good;
  twice.push_back(good[2]);
  CHECK_THROWS_WITH(net.load_state(twice, "x.st"), Catch::Contains("twice") && Catch::Contains(good[2].first));
  // Nothing was changed by the failed loads.
  CHECK(net.head.data()[0] == before);
}
