#include "worker/tensorboard/training_run_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tensorboard/event.pb.h"
#include "testing/temp_dir.h"
#include "worker/tensorboard/testing_events.h"

namespace bagel::tensorboard {
namespace {

namespace pb = ::tensorboard;
using Kind = contract::ProgressLine::Kind;
using testing::PngStart;
using testing::ReadEvents;

// tag -> step -> value of every scalar in the file.
std::map<std::string, std::map<int64_t, float>> Scalars(const std::vector<pb::Event>& events) {
  std::map<std::string, std::map<int64_t, float>> out;
  for (const pb::Event& e : events) {
    for (const auto& v : e.summary().value()) {
      if (v.value_case() == pb::Summary::Value::kSimpleValue)
        out[v.tag()][e.step()] = v.simple_value();
    }
  }
  return out;
}

TrainingRunInfo Info(int64_t first_step) {
  TrainingRunInfo info;
  info.first_step = first_step;
  info.spec_yaml = "name: demo\ntrain:\n  steps: 4\n";
  info.model_config_json = "{\"hidden_size\": 64}";
  info.prompts = {"a red cube", "two cats\non a sofa"};
  info.ce_weight = 0.25;
  info.mse_weight = 2.0;
  return info;
}

TEST(TrainingRunLogTest, StartsWithSessionStartSpecAndConfig) {
  bagel::testing::TempDir dir("tb_run");
  TrainingRunLog log((dir.path() / "tensorboard").string(), Info(7));
  const std::vector<pb::Event> events = ReadEvents(log.path());
  ASSERT_EQ(events.size(), 4u);  // file version, START, spec, config
  EXPECT_EQ(events[1].session_log().status(), pb::SessionLog::START);
  EXPECT_EQ(events[1].step(), 7);
  EXPECT_EQ(events[2].summary().value(0).tag(), "job/spec");
  EXPECT_EQ(events[2].summary().value(0).tensor().string_val(0),
            "    name: demo\n    train:\n      steps: 4\n");
  EXPECT_EQ(events[3].summary().value(0).tag(), "model/config");
}

TEST(TrainingRunLogTest, AStepLineBecomesItsScalars) {
  bagel::testing::TempDir dir("tb_run");
  TrainingRunLog log(dir.path().string(), Info(1));
  contract::ProgressLine step;
  step.kind = Kind::kStep;
  step.step = 3;
  step.ce = 2.5;
  step.mse = 0.5;
  step.lr = 1e-4;
  step.grad_norm = 1.5;
  step.tokens_per_s = 1234;
  step.step_time_s = 0.75;
  step.mem_bytes = 1 << 20;
  step.has_data_counts = true;
  step.data_samples = 40;
  step.data_skipped = 3;
  step.data_skipped_by_reason = {{"bad_image", 2}, {"too_long", 1}};
  log.Record(step);
  log.Flush();
  const auto scalars = Scalars(ReadEvents(log.path()));
  EXPECT_FLOAT_EQ(scalars.at("train/ce").at(3), 2.5f);
  EXPECT_FLOAT_EQ(scalars.at("train/mse").at(3), 0.5f);
  EXPECT_FLOAT_EQ(scalars.at("train/loss").at(3), 0.25f * 2.5f + 2.0f * 0.5f);
  EXPECT_FLOAT_EQ(scalars.at("train/lr").at(3), 1e-4f);
  EXPECT_FLOAT_EQ(scalars.at("train/grad_norm").at(3), 1.5f);
  EXPECT_FLOAT_EQ(scalars.at("perf/tokens_per_s").at(3), 1234.0f);
  EXPECT_FLOAT_EQ(scalars.at("perf/step_time_s").at(3), 0.75f);
  EXPECT_FLOAT_EQ(scalars.at("perf/mem_bytes").at(3), 1048576.0f);
  EXPECT_TRUE(scalars.count("perf/mfu"));
  EXPECT_FLOAT_EQ(scalars.at("data/samples").at(3), 40.0f);
  EXPECT_FLOAT_EQ(scalars.at("data/skipped").at(3), 3.0f);
  EXPECT_FLOAT_EQ(scalars.at("data/skipped/bad_image").at(3), 2.0f);
  EXPECT_FLOAT_EQ(scalars.at("data/skipped/too_long").at(3), 1.0f);
}

TEST(TrainingRunLogTest, AnEvalLineBecomesValidationLossesAndImagesTaggedByPrompt) {
  bagel::testing::TempDir dir("tb_run");
  const std::vector<std::string> pngs = {PngStart(32, 16), PngStart(8, 8)};
  contract::ProgressLine eval;
  eval.kind = Kind::kEval;
  eval.step = 4;
  eval.val_ce = 3.0;
  for (size_t i = 0; i < pngs.size(); ++i) {
    const std::string path = (dir.path() / (std::to_string(i) + ".png")).string();
    std::ofstream(path, std::ios::binary) << pngs[i];
    eval.images.push_back(path);
  }
  eval.images.push_back((dir.path() / "missing.png").string());  // left out, nothing thrown
  TrainingRunLog log((dir.path() / "tb").string(), Info(1));
  log.Record(eval);
  const std::vector<pb::Event> events = ReadEvents(log.path());  // flushed by the eval line
  const auto scalars = Scalars(events);
  EXPECT_FLOAT_EQ(scalars.at("val/ce").at(4), 3.0f);
  EXPECT_FALSE(scalars.count("val/mse"));
  std::vector<const pb::Summary::Value*> images;
  for (const pb::Event& e : events) {
    for (const auto& v : e.summary().value()) {
      if (v.has_image()) {
        EXPECT_EQ(e.step(), 4);
        images.push_back(&v);
      }
    }
  }
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0]->tag(), "samples/00 a red cube");
  EXPECT_EQ(images[0]->image().width(), 32);
  EXPECT_EQ(images[0]->image().height(), 16);
  EXPECT_EQ(images[0]->image().colorspace(), 3);
  EXPECT_EQ(images[0]->image().encoded_image_string(), pngs[0]);
  EXPECT_EQ(images[1]->tag(), "samples/01 two cats on a sofa");
}

TEST(TrainingRunLogTest, SampleTagsKeepOnePromptOnOneShortLine) {
  EXPECT_EQ(SampleImageTag(3, ""), "samples/03");
  EXPECT_EQ(SampleImageTag(12, " a/b\t c \n"), "samples/12 a b c");
  const std::string tag = SampleImageTag(0, std::string(200, 'x'));
  EXPECT_EQ(tag.size(), std::string("samples/00 ").size() + 80);
  EXPECT_EQ(tag.substr(tag.size() - 3), "...");
}

}  // namespace
}  // namespace bagel::tensorboard
