#include "worker/data/datasets/sample_builders.h"

#include <gtest/gtest.h>

#include "imaging/image_encode.h"
#include "testing/reference_data.h"
#include "tokenizer/qwen2_tokenizer.h"

namespace bagel::data {
namespace {

using nlohmann::json;

class SampleBuildersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tok_ = new tokenizer::Qwen2Tokenizer(
        tokenizer::Qwen2Tokenizer::FromDirectory(bagel::testing::GoldenTokenizerDir()));
  }
  static void TearDownTestSuite() { delete tok_; }

  std::vector<int64_t> Ids(const std::string& text) {
    auto ids = tok_->Encode(text);
    return std::vector<int64_t>(ids.begin(), ids.end());
  }
  BuildContext Context() { return {tok_, &vit_, &vae_}; }

  static tokenizer::Qwen2Tokenizer* tok_;
  ImageTransform vit_{ResizeRule{56, 28, 14, 1 << 20}};
  ImageTransform vae_{ResizeRule{64, 32, 16, 1 << 20}};
};
tokenizer::Qwen2Tokenizer* SampleBuildersTest::tok_ = nullptr;

imaging::RgbImage Picture(int64_t h, int64_t w) {
  imaging::RgbImage img(h, w);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 31);
  return img;
}

// VLM SFT, two images: the human turn splits on <image> into stripped text and ViT items, the
// gpt turn is a text item with loss; num_tokens counts text ids and H*W/14^2 per image.
TEST_F(SampleBuildersTest, VlmSampleLayout) {
  const json record = json::parse(R"({"image": ["a.png", "b.png"], "conversations": [
      {"from": "human", "value": "Look: <image> and <image>\nCompare them."},
      {"from": "gpt", "value": "They differ."}]})");
  std::vector<std::string> loaded;
  ImageLoader load = [&](const std::string& name) {
    loaded.push_back(name);
    return Picture(28, 42);
  };
  const PreparedSample p = BuildVlmSample(record, load, Context());
  EXPECT_EQ(loaded, (std::vector<std::string>{"a.png", "b.png"}));
  const auto& plan = p.sample.plan;
  ASSERT_EQ(plan.size(), 6u);
  const PlanItemType T = PlanItemType::kText, V = PlanItemType::kVitImage;
  const std::vector<PlanItemType> types = {T, V, T, V, T, T};
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(plan[i].type, types[i]) << i;
    EXPECT_FALSE(plan[i].enable_cfg) << i;
    EXPECT_EQ(plan[i].loss, i == 5) << i;
  }
  ASSERT_EQ(p.sample.text_ids.size(), 4u);
  EXPECT_EQ(p.sample.text_ids[0], Ids("Look:"));
  EXPECT_EQ(p.sample.text_ids[1], Ids("and"));
  EXPECT_EQ(p.sample.text_ids[2], Ids("Compare them."));
  EXPECT_EQ(p.sample.text_ids[3], Ids("They differ."));
  ASSERT_EQ(p.sample.images.size(), 2u);
  // 28x42 with the ViT rule (max 56, min 28, stride 14): scale 1 -> 28x42, 2*3 = 6 patches.
  EXPECT_EQ(p.sample.images[0].sizes(), (at::IntArrayRef{3, 28, 42}));
  int64_t text = 0;
  for (const auto& t : p.sample.text_ids) text += static_cast<int64_t>(t.size());
  EXPECT_EQ(p.num_tokens, text + 2 * 6);
  EXPECT_EQ(p.cost(), p.num_tokens + 2 * 6);
}

TEST_F(SampleBuildersTest, VlmWithoutAnswerIsSkippedAsNoLoss) {
  const json record = json::parse(R"({"conversations": [{"from": "human", "value": "Hi"}]})");
  try {
    BuildVlmSample(
        record, [](const std::string&) { return Picture(28, 28); }, Context());
    FAIL();
  } catch (const SkipSample& e) {
    EXPECT_EQ(e.reason(), kSkipNoLoss);
  }
}

TEST_F(SampleBuildersTest, TextSampleLayouts) {
  const PreparedSample a = BuildTextSample(json{{"text", "plain text"}}, Context());
  ASSERT_EQ(a.sample.plan.size(), 1u);
  EXPECT_TRUE(a.sample.plan[0].loss);
  EXPECT_EQ(a.sample.text_ids[0], Ids("plain text"));
  const PreparedSample b =
      BuildTextSample(json::parse(R"({"conversations": [{"from": "human", "value": "  Q? "},
                                        {"from": "gpt", "value": "A."}]})"),
                      Context());
  ASSERT_EQ(b.sample.plan.size(), 2u);
  // A human turn without <image> keeps its text as it is (not stripped).
  EXPECT_EQ(b.sample.text_ids[0], Ids("  Q? "));
  EXPECT_FALSE(b.sample.plan[0].loss);
  EXPECT_TRUE(b.sample.plan[1].loss);
}

// T2I: caption (CFG-droppable, no loss) then a noised VAE image with loss.
TEST_F(SampleBuildersTest, T2iSampleLayout) {
  CounterRng rng(5);
  const std::string png = imaging::EncodePng(Picture(40, 70));
  const PreparedSample p =
      BuildT2iSample(png, std::string(R"({"a": "a red square"})"), "row 0", rng, Context());
  ASSERT_EQ(p.sample.plan.size(), 2u);
  EXPECT_EQ(p.sample.plan[0].type, PlanItemType::kText);
  EXPECT_TRUE(p.sample.plan[0].enable_cfg);
  EXPECT_FALSE(p.sample.plan[0].loss);
  EXPECT_EQ(p.sample.plan[1].type, PlanItemType::kVaeImage);
  EXPECT_TRUE(p.sample.plan[1].loss);
  EXPECT_FALSE(p.sample.plan[1].enable_cfg);
  EXPECT_EQ(p.sample.text_ids[0], Ids("a red square"));
  // 40x70 with the VAE rule (max 64, min 32, stride 16): scale 64/70 -> round(36.57)=37 -> 32,
  // round(64) = 64 -> 32x64, 2*4 = 8 latent tokens.
  EXPECT_EQ(p.sample.images[0].sizes(), (at::IntArrayRef{3, 32, 64}));
  EXPECT_EQ(p.num_tokens, 8 + static_cast<int64_t>(Ids("a red square").size()));
}

TEST_F(SampleBuildersTest, T2iBadRowsAreSkippedWithAReason) {
  CounterRng rng(1);
  auto reason = [&](const std::optional<std::string>& image, const std::optional<std::string>& c) {
    try {
      BuildT2iSample(image, c, "f.parquet row 3", rng, Context());
      return std::string("built");
    } catch (const SkipSample& e) {
      EXPECT_NE(std::string(e.what()).find("f.parquet row 3"), std::string::npos) << e.what();
      return e.reason();
    }
  };
  const std::string png = imaging::EncodePng(Picture(32, 32));
  EXPECT_EQ(reason(std::nullopt, "{}"), kSkipMissingImage);
  EXPECT_EQ(reason(std::string("garbage"), "{}"), kSkipBadImage);
  EXPECT_EQ(reason(png, "not json"), kSkipMalformed);
  EXPECT_EQ(reason(png, "{}"), "built");  // no caption: " " as the official code
}

// Edit, one step: source as clean VAE (cfg) + ViT (cfg), instruction (cfg), target noised VAE.
TEST_F(SampleBuildersTest, EditSampleLayout) {
  CounterRng rng(3);
  const std::string png = imaging::EncodePng(Picture(32, 32));
  const PreparedSample p =
      BuildEditSample({png, png}, {{std::string("make it blue")}}, "edit row", rng, Context());
  const auto& plan = p.sample.plan;
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].type, PlanItemType::kVaeImage);
  EXPECT_TRUE(plan[0].enable_cfg);
  EXPECT_FALSE(plan[0].loss);
  EXPECT_EQ(plan[1].type, PlanItemType::kVitImage);
  EXPECT_TRUE(plan[1].enable_cfg);
  EXPECT_EQ(plan[2].type, PlanItemType::kText);
  EXPECT_TRUE(plan[2].enable_cfg);
  EXPECT_EQ(plan[3].type, PlanItemType::kVaeImage);
  EXPECT_TRUE(plan[3].loss);
  EXPECT_FALSE(plan[3].enable_cfg);
  EXPECT_EQ(p.sample.text_ids[0], Ids("make it blue"));
}

TEST(PyStrip, StripsPythonWhitespace) {
  EXPECT_EQ(PyStrip(" \t\n a b \xc2\xa0"), "a b");
  EXPECT_EQ(PyRstrip("x. "), "x.");
  EXPECT_EQ(PyStrip("   "), "");
}

}  // namespace
}  // namespace bagel::data
