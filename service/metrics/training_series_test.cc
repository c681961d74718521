#include "service/metrics/training_series.h"

#include <gtest/gtest.h>

namespace bagel::metrics {
namespace {

using contract::ParseProgressLine;

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& fs,
                                     const std::string& name) {
  for (const auto& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(TrainingSeriesTest, OneDescriptionTwoScopes) {
  const auto& job = TrainingSeriesDefs(TrainingScope::kJob);
  const auto& rank = TrainingSeriesDefs(TrainingScope::kRank);
  ASSERT_EQ(job.size(), rank.size());
  for (size_t i = 0; i < job.size(); ++i) {
    const std::string j = job[i].name, r = rank[i].name;
    ASSERT_EQ(j.rfind("bagel_train_", 0), 0u) << j;
    ASSERT_EQ(r.rfind("bagel_rank_", 0), 0u) << r;
    EXPECT_EQ(j.substr(12), r.substr(11));
    EXPECT_EQ(job[i].type, rank[i].type);
    EXPECT_EQ(std::string(rank[i].labels).rfind("job_id,rank", 0), 0u);
  }
}

TEST(TrainingSeriesTest, ValuesFollowTheLines) {
  TrainingValues v;
  v.Observe(*ParseProgressLine(R"({"event":"started","step":0,"total_steps":10})"), 1000);
  EXPECT_EQ(v.total_steps, 10);
  EXPECT_FALSE(v.has_step);
  v.Observe(
      *ParseProgressLine(
          R"({"event":"step","step":1,"ce":2.5,"mse":0.5,"mse_tokens":64,"tokens":100,"lr":0.1})"),
      2000);
  v.Observe(*ParseProgressLine(R"({"event":"step","step":2,"ce":2.0,"mse":0.4,"tokens":120})"),
            3000);
  EXPECT_TRUE(v.has_step);
  EXPECT_TRUE(v.has_mse);
  EXPECT_EQ(v.step, 2);
  EXPECT_DOUBLE_EQ(v.ce, 2.0);
  EXPECT_DOUBLE_EQ(v.tokens_total, 220);
  EXPECT_EQ(v.last_line_unix_ms, 3000);
  v.Observe(*ParseProgressLine(R"({"event":"eval","step":2,"val_ce":1.5})"), 4000);
  EXPECT_TRUE(v.has_eval);
  EXPECT_DOUBLE_EQ(v.val_ce, 1.5);
  EXPECT_DOUBLE_EQ(v.val_mse, 0.0);
  // Checkpoint and done lines carry no training values.
  v.Observe(*ParseProgressLine(R"({"event":"checkpoint","step":7})"), 5000);
  EXPECT_EQ(v.step, 2);
}

TEST(TrainingSeriesTest, TheBuilderLabelsEachScopeAndKeepsEmptyFamiliesOnlyWhenAsked) {
  TrainingValues stage1;
  stage1.Observe(*ParseProgressLine(R"({"event":"step","step":3,"total_steps":9,"ce":2.0})"), 9000);
  TrainingSeriesBuilder rank(TrainingScope::kRank);
  rank.Add({"j-1", "0"}, stage1);
  std::vector<prometheus::MetricFamily> out;
  rank.AppendTo(out, /*keep_empty=*/false);
  const auto* loss = Find(out, "bagel_rank_loss");
  ASSERT_NE(loss, nullptr);
  ASSERT_EQ(loss->metric.size(), 1u);  // ce only: no generation loss
  EXPECT_EQ(loss->metric[0].label.size(), 3u);
  EXPECT_EQ(loss->metric[0].label[2].value, "ce");
  EXPECT_EQ(Find(out, "bagel_rank_validation_loss"), nullptr);  // empty, not kept
  EXPECT_DOUBLE_EQ(Find(out, "bagel_rank_step")->metric[0].gauge.value, 3);

  TrainingSeriesBuilder job(TrainingScope::kJob);
  job.Add({"j-1"}, stage1);
  out.clear();
  job.AppendTo(out, /*keep_empty=*/true);
  EXPECT_EQ(out.size(), TrainingSeriesDefs(TrainingScope::kJob).size());
  EXPECT_TRUE(Find(out, "bagel_train_validation_loss")->metric.empty());
  EXPECT_EQ(Find(out, "bagel_train_target_steps")->metric[0].label[0].value, "j-1");
}

}  // namespace
}  // namespace bagel::metrics
