#include "model/inference/interleave_inference.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "model/config/presets.h"
#include "model/inference/llm_query.h"

namespace bagel {
namespace {

// The tiny Stage 2 model (vocabulary 256, specials 252..255) and a small VAE of the FLUX layout
// (downsample 8, 16 latent channels), random weights.
InferenceModel TinyModel() {
  BagelConfig c = PresetConfig("tiny");
  PrepareConfigForStage(c, 2);
  InferenceModel m;
  m.bagel = std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().dtype(at::kFloat));
  m.bagel->InitializeWeights(11);
  {
    at::NoGradGuard no_grad;
    at::manual_seed(4);
    m.bagel->model->llm2vae->weight.normal_(0.0, 0.05);
  }
  vae::FluxVaeParams p;
  p.ch = 32;
  p.ch_mult = {1, 1, 1, 1};
  p.num_res_blocks = 1;
  m.vae = std::make_shared<vae::FluxVae>(p, at::kFloat);
  m.vae->InitializeRandom(5);
  m.tokens = {252, 253, 254, 255};
  return m;
}

at::Tensor Image(int64_t h, int64_t w, uint64_t seed) {
  return at::rand({3, h, w}, at::detail::createCPUGenerator(seed), at::kFloat) * 2 - 1;
}

TEST(InterleaveInferenceTest, SegmentsAdvanceTheCacheAndTheRopeAsTheOfficialBuilders) {
  InferenceModel m = TinyModel();
  InferenceContext ctx = PrefillText(m, {}, {1, 2, 3});  // bos 1 2 3 eos
  EXPECT_EQ(ctx.kv_len, 5);
  EXPECT_EQ(ctx.rope, 5);
  ctx = PrefillVitImage(m, ctx, Image(28, 42, 1));  // vs + 2x3 patches + ve, one position
  EXPECT_EQ(ctx.kv_len, 13);
  EXPECT_EQ(ctx.rope, 6);
  VaePosteriorOptions posterior;
  posterior.noise = at::randn({1, 16, 4, 6});
  ctx = PrefillVaeImage(m, ctx, Image(32, 48, 2), posterior);  // vs + 2x3 latents + ve
  EXPECT_EQ(ctx.kv_len, 21);
  EXPECT_EQ(ctx.rope, 7);
  EXPECT_EQ(ctx.cache.keys.size(), 2u);
  EXPECT_EQ(ctx.cache.keys[1].sizes(), (std::vector<int64_t>{21, 2, 16}));

  EXPECT_THROW(PrefillVitImage(m, ctx, Image(28, 30, 1)), c10::Error);  // not a multiple of 14
  EXPECT_THROW(PrefillVaeImage(m, ctx, Image(32, 40, 1)), c10::Error);  // not a multiple of 16
  EXPECT_THROW(PrefillText(m, ctx, {256}), c10::Error);                 // outside the vocabulary
}

TEST(InterleaveInferenceTest, GreedyDecodingStopsAtEosOrMaxLength) {
  InferenceModel m = TinyModel();
  InferenceContext ctx = PrefillText(m, {}, {10, 11, 12});
  TextGenerationOptions o;
  o.max_length = 6;
  TextGenerationResult a = GenerateText(m, ctx, o);
  ASSERT_FALSE(a.ids.empty());
  EXPECT_EQ(a.ids.front(), 252);
  EXPECT_LE(a.ids.size(), 6u);
  EXPECT_EQ(a.first_logits.sizes(), (std::vector<int64_t>{256}));
  EXPECT_EQ(GenerateText(m, ctx, o).ids, a.ids);  // the context is not consumed

  // With a zero lm_head every logit ties and argmax picks id 0: make that the end token.
  {
    at::NoGradGuard no_grad;
    m.bagel->model->language_model->lm_head->weight.zero_();
  }
  m.tokens.eos = 0;
  EXPECT_EQ(GenerateText(m, ctx, o).ids, (std::vector<int64_t>{252}));
  m.tokens.eos = 253;
  EXPECT_EQ(GenerateText(m, ctx, o).ids, (std::vector<int64_t>{252, 0, 0, 0, 0, 0}));

  o.do_sample = true;
  o.temperature = 0.7;
  o.generator = at::detail::createCPUGenerator(1);
  EXPECT_EQ(GenerateText(m, ctx, o).ids.size(), 6u);
}

TEST(InterleaveInferenceTest, SamplerTakesEulerStepsOfTheConditionalVelocity) {
  InferenceModel m = TinyModel();
  GenerationContexts ctx;
  ctx.cond = PrefillText(m, {}, {4, 5, 6});
  ctx.cfg_img = ctx.cond;
  ImageGenerationOptions o;
  o.num_timesteps = 3;
  o.timestep_shift = 1.0;
  o.cfg_text_scale = 1.0;
  o.init_noise = at::randn({4, 64}, at::detail::createCPUGenerator(2), at::kFloat);
  int calls = 0;
  o.progress = [&](int step, int total) {
    ++calls;
    EXPECT_EQ(total, 2);
    EXPECT_EQ(step, calls);
  };
  at::Tensor latent = GenerateImageLatent(m, ctx, 32, 32, o);
  EXPECT_EQ(calls, 2);

  // By hand: t = 1, 0.5, 0; two steps of dt 0.5 with the velocity of the gen-mode query.
  at::NoGradGuard no_grad;
  const BagelModel& b = m.modules();
  at::Tensor x = o.init_noise;
  for (float t : {1.0f, 0.5f}) {
    at::Tensor tokens = b.vae2llm->Forward(x) + b.time_embedder->Forward(at::full({1}, t)) +
                        b.latent_pos_embed->Forward(at::tensor({0, 1, 8, 9}, at::kLong));
    LlmQuery q;
    q.embeddings = at::cat({m.Embed({254}), tokens, m.Embed({255})});
    q.position_ids = at::full({6}, 5, at::kLong);
    q.mode = ExpertMode::kGeneration;
    q.und_rows = at::tensor({0, 5}, at::kLong);
    q.gen_rows = at::arange(1, 5, at::kLong);
    at::Tensor h = RunLlmQuery(m.lm(), m.config().llm, ctx.cond.cache, q, false).hidden;
    x = x - b.llm2vae->Forward(h.narrow(0, 1, 4)) * 0.5;
  }
  EXPECT_TRUE(at::allclose(latent, x, 1e-5, 1e-6)) << (latent - x).abs().max();
}

TEST(InterleaveInferenceTest, TextCfgAgainstTheSameContextChangesNothing) {
  InferenceModel m = TinyModel();
  GenerationContexts ctx;
  ctx.cond = PrefillText(m, {}, {4, 5, 6});
  ctx.cfg_text = ctx.cond;
  ctx.cfg_img = ctx.cond;
  ImageGenerationOptions o;
  o.num_timesteps = 4;
  o.generator = at::detail::createCPUGenerator(3);
  o.cfg_text_scale = 1.0;
  at::Tensor plain = GenerateImageLatent(m, ctx, 32, 48, o);
  o.generator = at::detail::createCPUGenerator(3);
  o.cfg_text_scale = 4.0;
  o.cfg_img_scale = 2.0;
  o.cfg_interval_lo = 0.0;
  for (auto type : {CfgRenormType::kGlobal, CfgRenormType::kChannel, CfgRenormType::kTextChannel}) {
    o.cfg_renorm_type = type;
    o.generator = at::detail::createCPUGenerator(3);
    EXPECT_TRUE(at::allclose(GenerateImageLatent(m, ctx, 32, 48, o), plain, 1e-5, 1e-6));
  }
  // A different text-CFG context does change the result inside the interval.
  ctx.cfg_text = InferenceContext{};
  o.generator = at::detail::createCPUGenerator(3);
  EXPECT_FALSE(at::allclose(GenerateImageLatent(m, ctx, 32, 48, o), plain, 1e-3, 1e-3));
  // ... and nothing when no timestep lies in the interval (lo < t <= hi is empty).
  o.cfg_interval_lo = 0.0;
  o.cfg_interval_hi = 0.0;
  o.generator = at::detail::createCPUGenerator(3);
  EXPECT_TRUE(at::allclose(GenerateImageLatent(m, ctx, 32, 48, o), plain, 1e-6, 1e-7));
}

TEST(InterleaveInferenceTest, EditFlowBuildsTheOfficialContexts) {
  InferenceModel m = TinyModel();
  InterleaveInput image = InterleaveInput::Image(Image(32, 32, 7), Image(28, 28, 8));
  image.vae_posterior_noise =
      at::randn({1, 16, 4, 4}, at::detail::createCPUGenerator(9), at::kFloat);
  InterleaveOptions o;
  o.image.num_timesteps = 3;
  o.image.cfg_img_scale = 1.5;
  o.image.cfg_interval_lo = 0.0;
  o.image.cfg_renorm_type = CfgRenormType::kTextChannel;
  o.image.init_noise = at::randn({4, 64}, at::detail::createCPUGenerator(10), at::kFloat);
  InterleaveResult r = InterleaveInference(m, {image, InterleaveInput::Text({3, 4})}, o);
  EXPECT_EQ(r.height, 32);
  EXPECT_EQ(r.width, 32);
  EXPECT_EQ(r.latent.sizes(), (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(r.image.sizes(), (std::vector<int64_t>{3, 32, 32}));

  // The same run by hand with the documented contexts.
  GenerationContexts ctx;
  VaePosteriorOptions posterior;
  posterior.noise = image.vae_posterior_noise;
  ctx.cond =
      PrefillVitImage(m, PrefillVaeImage(m, {}, image.vae_image, posterior), image.vit_image);
  ctx.cfg_text = ctx.cond;
  ctx.cond = PrefillText(m, ctx.cond, {3, 4});
  ctx.cfg_img = PrefillText(m, {}, {3, 4});
  at::Tensor latent = GenerateImageLatent(m, ctx, 32, 32, o.image);
  EXPECT_TRUE(at::equal(latent, r.latent));
  EXPECT_TRUE(at::allclose(DecodeLatentImage(m, latent, 32, 32), r.image));

  at::Tensor pixels = ImageToUint8(r.image);
  EXPECT_EQ(pixels.sizes(), (std::vector<int64_t>{32, 32, 3}));
  EXPECT_EQ(pixels.scalar_type(), at::kByte);
}

TEST(InterleaveInferenceTest, LatentsUnpatchifyInRasterOrder) {
  // Token (i, j) holds (p, q, c) with c fastest; the VAE latent has it at (c, 2i + p, 2j + q).
  at::Tensor packed = at::arange(2 * 3 * 2 * 2 * 16, at::kFloat).reshape({6, 64});
  at::Tensor z = UnpatchifyLatent(packed, 2, 3, 2, 16);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{1, 16, 4, 6}));
  EXPECT_EQ(z[0][5][3][4].item<float>(), packed[1 * 3 + 2][(1 * 2 + 0) * 16 + 5].item<float>());
  EXPECT_TRUE(at::equal(PatchifyLatent(z, 2, 3, 2), packed));
}

}  // namespace
}  // namespace bagel
