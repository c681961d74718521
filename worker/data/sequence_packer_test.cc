#include "worker/data/sequence_packer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/io/safetensors.h"
#include "model/testing/tensor_compare.h"
#include "testing/golden_dir.h"
#include "worker/data/pack_samples_file.h"
#include "worker/data/synthetic_samples.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;

fs::path GoldenDir() { return bagel::testing::GoldenDir(); }

PackRandomness Fixed(double u, double n) {
  return {[u] { return u; }, [n] { return n; }};
}

class PackingCaseTest : public ::testing::TestWithParam<std::string> {};

// Every pack/ folder of the reference cases: integers exact, floats within 1e-6.
TEST_P(PackingCaseTest, MatchesTheOfficialPacker) {
  const fs::path dir = GoldenDir() / GetParam() / "pack";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present";
  PackedSequence packed =
      PackSamplesFileContents(ReadPackSamplesFile((dir / "samples.json").string()));
  auto expected = io::SafetensorsFile::Open((dir / "expected.safetensors").string())->ReadAll();
  auto got = PackedLayoutTensors(packed);
  for (const auto& [name, t] : got) {
    EXPECT_TRUE(expected.count(name)) << "unexpected output " << name;
  }
  auto report = testing::CompareTensors(expected, got, {0.0, 1e-6});
  EXPECT_TRUE(report.ok) << report.Text(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Golden, PackingCaseTest,
                         ::testing::Values("stage1-vlm", "stage1-mixed", "stage2-t2i",
                                           "stage2-mixed", "stage2-cfgdrop"));

TEST(SequencePackerTest, TextItemLabelsAndPositions) {
  SequencePacker packer({}, {100, 101, 102, 103});
  Sample s;
  s.plan = {{PlanItemType::kText, false, false}, {PlanItemType::kText, false, true}};
  s.text_ids = {{1, 2}, {3, 4, 5}};
  packer.Add(s, Fixed(0.5, 0.0));
  PackedSequence p = packer.Finish();
  // [bos 1 2 eos] [bos 3 4 5 eos]
  EXPECT_TRUE(
      p.batch.packed_text_ids.equal(at::tensor({100, 1, 2, 101, 100, 3, 4, 5, 101}, at::kLong)));
  EXPECT_TRUE(p.batch.packed_position_ids.equal(at::arange(9, at::kLong)));
  // Labels on bos, 3, 4, 5 -> 3, 4, 5, eos.
  EXPECT_TRUE(p.batch.ce_loss_indexes.equal(at::tensor({4, 5, 6, 7}, at::kLong)));
  EXPECT_TRUE(p.batch.packed_label_ids.equal(at::tensor({3, 4, 5, 101}, at::kLong)));
  EXPECT_FLOAT_EQ(p.ce_loss_weights[0].item<float>(), 0.5f);  // 1/sqrt(4)
  EXPECT_EQ(p.batch.split_lens, (std::vector<int64_t>{4, 5}));
}

TEST(SequencePackerTest, ImagesShareOneRopeIdAndNoisedOnesDoNotAdvanceIt) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  SequencePacker packer({.max_latent_size = 8}, {});
  packer.Add(TinySample("edit", 250, gen), Fixed(0.5, 0.7));
  PackedSequence p = packer.Finish();
  const auto& b = p.batch;
  // clean VAE (2x2 latents + markers): rope 0; ViT (2x2 + markers): rope 1; text (5+2): 2..8;
  // noised VAE: rope 9, not advanced.
  at::Tensor pos = b.packed_position_ids;
  EXPECT_TRUE(pos.narrow(0, 0, 6).eq(0).all().item<bool>());
  EXPECT_TRUE(pos.narrow(0, 6, 6).eq(1).all().item<bool>());
  EXPECT_TRUE(pos.narrow(0, 12, 7).equal(at::arange(2, 9, at::kLong)));
  EXPECT_TRUE(pos.narrow(0, 19, 6).eq(9).all().item<bool>());
  EXPECT_EQ(b.attn_modes, (std::vector<AttnMode>{AttnMode::kFull, AttnMode::kFull,
                                                 AttnMode::kCausal, AttnMode::kNoise}));
  EXPECT_TRUE(std::isinf(b.packed_timesteps[0].item<float>()));
  EXPECT_FLOAT_EQ(b.packed_timesteps[4].item<float>(), 0.7f);
  EXPECT_EQ(b.mse_loss_indexes.numel(), 4);
  EXPECT_EQ(p.padded_images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
}

TEST(SequencePackerTest, CfgDropoutSkipsItemsButDroppedImagesAdvanceRope) {
  at::Generator gen = at::detail::createCPUGenerator(2);
  PackerConfig c;
  c.max_latent_size = 8;
  c.text_cond_dropout_prob = 1.0;
  c.vit_cond_dropout_prob = 1.0;
  c.vae_cond_dropout_prob = 1.0;
  SequencePacker packer(c, {});
  packer.Add(TinySample("edit", 250, gen), Fixed(0.5, 0.1));
  PackedSequence p = packer.Finish();
  // Only the noised target remains; two dropped images advanced rope to 2, dropped text did not.
  EXPECT_EQ(p.batch.sequence_length, 6);
  EXPECT_TRUE(p.batch.packed_position_ids.eq(2).all().item<bool>());
}

TEST(SequencePackerTest, RejectsPlansThatDoNotMatchTheirData) {
  SequencePacker packer({}, {});
  Sample s;
  s.plan = {{PlanItemType::kText}, {PlanItemType::kText}};
  s.text_ids = {{1}};
  EXPECT_THROW(packer.Add(s, Fixed(0.5, 0)), c10::Error);
  Sample v;
  v.plan = {{PlanItemType::kVitImage}};
  EXPECT_THROW(packer.Add(v, Fixed(0.5, 0)), c10::Error);
}

}  // namespace
}  // namespace bagel::data
