#include "model/inference/infer_case.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"

namespace bagel {
namespace {

class InferCaseTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) const {
    const std::string path = dir_.File("infer_case_test.json");
    std::ofstream(path) << text;
    return path;
  }

  std::string Error(const std::string& text) const {
    try {
      ReadInferCaseSpec(Write(text));
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  }

  bagel::testing::TempDir dir_;
};

const char* kT2i = R"({"kind": "infer", "task": "t2i", "num_timesteps": 5, "cfg_text_scale": 4.0,
  "cfg_img_scale": 1.0, "cfg_interval": [0.4, 1.0], "timestep_shift": 3.0,
  "cfg_renorm_type": "global", "cfg_renorm_min": 0.0, "image_shape": [64, 96],
  "special_tokens": {"bos": 252, "eos": 253, "start_of_image": 254, "end_of_image": 255}})";

TEST_F(InferCaseTest, ReadsTheSamplerSettingsAndSpecialTokens) {
  InferCaseSpec s = ReadInferCaseSpec(Write(kT2i));
  EXPECT_EQ(s.task, "t2i");
  EXPECT_EQ(s.image.num_timesteps, 5);
  EXPECT_EQ(s.image.cfg_interval_lo, 0.4);
  EXPECT_EQ(s.image.cfg_renorm_type, CfgRenormType::kGlobal);
  EXPECT_EQ(s.image_height, 64);
  EXPECT_EQ(s.image_width, 96);
  EXPECT_EQ(s.tokens.eos, 253);
  EXPECT_EQ(s.tokens.end_of_image, 255);
  s = ReadInferCaseSpec(Write(R"({"task": "und", "max_length": 12})"));
  EXPECT_EQ(s.max_length, 12);
  EXPECT_EQ(s.tokens.bos, 151644);  // Qwen2's <|im_start|> without special_tokens
}

TEST_F(InferCaseTest, ErrorsNameTheField) {
  std::string text = kT2i;
  EXPECT_NE(Error(R"({"task": "und"})").find("'max_length'"), std::string::npos);
  EXPECT_NE(Error(R"({"task": "draw"})").find("task 'draw'"), std::string::npos);
  std::string bad = text;
  bad.replace(bad.find("\"global\""), 8, "\"loud\"");
  EXPECT_NE(Error(bad).find("cfg_renorm_type 'loud'"), std::string::npos);
  bad = text;
  bad.replace(bad.find("\"num_timesteps\": 5"), 18, "\"num_timesteps\": \"5\"");
  EXPECT_NE(Error(bad).find("'num_timesteps' has the wrong type"), std::string::npos);
  EXPECT_NE(Error("{").find("invalid JSON"), std::string::npos);
}

}  // namespace
}  // namespace bagel
