#include "model/inference/llm_query.h"

#include <gtest/gtest.h>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/config/presets.h"
#include "model/qwen2/token_routing.h"

namespace bagel {
namespace {

std::shared_ptr<BagelForUnifiedMultimodal> Tiny(int stage) {
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, stage);
  auto m = std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().dtype(at::kFloat));
  m->InitializeWeights(7);
  // Distinct expert weights, so that routing a row to the wrong expert shows.
  at::NoGradGuard no_grad;
  at::manual_seed(3);
  for (auto& item : m->named_parameters()) {
    if (item.key().find("_moe_gen") != std::string::npos) {
      item.value().add_(at::randn(item.value().sizes()) * 0.05);
    }
  }
  return m;
}

at::Tensor Ids(const BagelForUnifiedMultimodal& m, std::vector<int64_t> ids) {
  return m.GetInputEmbeddings().Forward(at::tensor(ids, at::kLong));
}

at::Tensor Range(int64_t a, int64_t b) { return at::arange(a, b, at::kLong); }

void ExpectClose(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_TRUE(at::allclose(got, want, 1e-4, 1e-5)) << (got - want).abs().max();
}

// Incremental text decoding through the cache computes what one causal pass over the whole
// sequence computes (the training forward with a single causal split).
TEST(LlmQueryTest, CachedTextSegmentsMatchOneCausalPass) {
  for (int stage : {1, 2}) {
    auto m = Tiny(stage);
    at::NoGradGuard no_grad;
    const Qwen2Model& lm = *m->model->language_model->model;
    const LlmConfig& c = m->config().llm;
    at::Tensor seq = Ids(*m, {252, 7, 8, 9, 253, 252, 5, 6});
    const int64_t n = seq.size(0);
    std::optional<TokenRouting> routing;
    if (stage == 2) routing = TokenRouting::Make(Range(0, n), at::Tensor(), n, false);
    at::Tensor full =
        lm.Forward(seq, Range(0, n), AttentionLayout::FromSplits({n}, {n}, {AttnMode::kCausal}, n),
                   routing ? &*routing : nullptr);

    KvCache cache;
    std::vector<at::Tensor> rows;
    for (auto [a, b] : {std::pair<int64_t, int64_t>{0, 5}, {5, 7}, {7, 8}}) {
      LlmQuery q;
      q.embeddings = seq.narrow(0, a, b - a);
      q.position_ids = Range(a, b);
      q.causal = true;
      LlmQueryResult r = RunLlmQuery(lm, c, cache, q, /*update_cache=*/true);
      EXPECT_EQ(r.cache.length(), b);
      cache = r.cache;
      rows.push_back(r.hidden);
    }
    ExpectClose(at::cat(rows, 0), full);
  }
}

// A latent block queried in gen mode over a cached text prefix equals the training forward of
// [text (causal) | block (full)] with the latents routed to the generation expert.
TEST(LlmQueryTest, GenerationBlockMatchesTheTrainingForwardOfTheSameLayout) {
  auto m = Tiny(2);
  at::NoGradGuard no_grad;
  const Qwen2Model& lm = *m->model->language_model->model;
  const LlmConfig& c = m->config().llm;
  at::Tensor text = Ids(*m, {252, 7, 8, 253});
  at::Tensor latents = at::randn({4, c.hidden_size});
  at::Tensor markers = Ids(*m, {254, 255});
  at::Tensor block = at::cat({markers.narrow(0, 0, 1), latents, markers.narrow(0, 1, 1)});
  at::Tensor seq = at::cat({text, block});
  at::Tensor positions = at::tensor({0, 1, 2, 3, 4, 4, 4, 4, 4, 4}, at::kLong);
  TokenRouting routing =
      TokenRouting::Make(at::tensor({0, 1, 2, 3, 4, 9}, at::kLong), Range(5, 9), 10, false);
  at::Tensor full = lm.Forward(
      seq, positions,
      AttentionLayout::FromSplits({10}, {4, 6}, {AttnMode::kCausal, AttnMode::kFull}, 10),
      &routing);

  LlmQuery prefix;
  prefix.embeddings = text;
  prefix.position_ids = Range(0, 4);
  prefix.causal = true;
  LlmQueryResult first = RunLlmQuery(lm, c, {}, prefix, true);
  LlmQuery q;
  q.embeddings = block;
  q.position_ids = at::full({6}, 4, at::kLong);
  q.mode = ExpertMode::kGeneration;
  q.und_rows = at::tensor({0, 5}, at::kLong);
  q.gen_rows = Range(1, 5);
  LlmQueryResult second = RunLlmQuery(lm, c, first.cache, q, /*update_cache=*/false);
  EXPECT_TRUE(second.cache.empty());
  ExpectClose(second.hidden, full.narrow(0, 4, 6));

  // The same rows through the understanding expert differ: the routing matters.
  q.mode = ExpertMode::kUnderstanding;
  EXPECT_FALSE(
      at::allclose(RunLlmQuery(lm, c, first.cache, q, false).hidden, second.hidden, 1e-3, 1e-3));
}

TEST(LlmQueryTest, GenerationModeNeedsAMoTModel) {
  auto m = Tiny(1);
  at::NoGradGuard no_grad;
  LlmQuery q;
  q.embeddings = Ids(*m, {254, 1, 255});
  q.position_ids = at::zeros({3}, at::kLong);
  q.mode = ExpertMode::kGeneration;
  q.und_rows = at::tensor({0, 2}, at::kLong);
  q.gen_rows = at::tensor({1}, at::kLong);
  EXPECT_THROW(RunLlmQuery(*m->model->language_model->model, m->config().llm, {}, q, false),
               c10::Error);
}

}  // namespace
}  // namespace bagel
