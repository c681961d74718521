#include "worker/agent/agent_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "service/metrics/build_info.h"

namespace bagel::agent {
namespace {

using Labels = std::map<std::string, std::string>;

// The value of the series `name{labels}` (exactly these labels), NaN when absent.
double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const Labels& labels = {}) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      Labels have;
      for (const auto& l : m.label) have[l.name] = l.value;
      if (have != labels) continue;
      return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return std::nan("");
}

Labels Rank(const std::string& job, int rank) {
  return {{"job_id", job}, {"rank", std::to_string(rank)}};
}

Labels Head(const std::string& job, int rank, const std::string& head) {
  auto l = Rank(job, rank);
  l["head"] = head;
  return l;
}

TEST(AgentMetricsTest, DecodesTheTrainersLinesIntoPerRankSeries) {
  auto m = AgentMetrics::Create();
  m->RankStarted("j1", 0, 0);
  m->Line("j1", 0, 0, R"({"event":"started","rank":0,"world_size":1,"step":0,"total_steps":10})",
          1000);
  auto f = m->Collect();
  EXPECT_EQ(Value(f, "bagel_rank_running", Rank("j1", 0)), 1);
  EXPECT_EQ(Value(f, "bagel_rank_step", Rank("j1", 0)), 0);
  EXPECT_EQ(Value(f, "bagel_rank_target_steps", Rank("j1", 0)), 10);
  EXPECT_TRUE(std::isnan(Value(f, "bagel_rank_loss", Head("j1", 0, "ce"))));

  m->Line("j1", 0, 0,
          R"({"event":"step","step":1,"total_steps":10,"ce":2.5,"mse":0.5,"lr":0.001,)"
          R"("grad_norm":1.5,"tokens":100,"tokens_per_s":50,"step_time_s":2,"mfu":0.25,)"
          R"("mem_bytes":4096,"ce_tokens":60,"mse_tokens":40,"future_field":[1]})",
          2000);
  // Every step line carries the step's values (one parser for agent and coordinator: a field a
  // line lacks reads as 0, it does not keep the previous line's value).
  m->Line("j1", 0, 0,
          R"({"event":"step","step":2,"ce":2.25,"mse":0.25,"tokens":100,"mse_tokens":4,)"
          R"("lr":0.001,"mfu":0.25,"mem_bytes":4096})",
          3000);
  m->Line("j1", 0, 0,
          R"({"event":"checkpoint","step":2,"path":"/c/j1/step-00000002",)"
          R"("bytes":1000,"seconds":1.5})",
          4000);
  m->Line("j1", 0, 0, R"({"event":"eval","step":2,"val_ce":2.75,"val_mse":0.5})", 5000);
  m->Line("j1", 0, 0, "not json", 6000);
  f = m->Collect();
  EXPECT_EQ(Value(f, "bagel_rank_step", Rank("j1", 0)), 2);
  EXPECT_EQ(Value(f, "bagel_rank_loss", Head("j1", 0, "ce")), 2.25);
  EXPECT_EQ(Value(f, "bagel_rank_loss", Head("j1", 0, "mse")), 0.25);
  EXPECT_EQ(Value(f, "bagel_rank_validation_loss", Head("j1", 0, "ce")), 2.75);
  EXPECT_EQ(Value(f, "bagel_rank_tokens_total", Rank("j1", 0)), 200);
  EXPECT_EQ(Value(f, "bagel_rank_learning_rate", Rank("j1", 0)), 0.001);
  EXPECT_EQ(Value(f, "bagel_rank_mfu_ratio", Rank("j1", 0)), 0.25);
  EXPECT_EQ(Value(f, "bagel_rank_peak_memory_bytes", Rank("j1", 0)), 4096);
  EXPECT_EQ(Value(f, "bagel_rank_checkpoint_last_timestamp_seconds", Rank("j1", 0)), 4);
  EXPECT_EQ(Value(f, "bagel_rank_checkpoint_last_step", Rank("j1", 0)), 2);
  EXPECT_EQ(Value(f, "bagel_rank_checkpoint_last_save_duration_seconds", Rank("j1", 0)), 1.5);
  EXPECT_EQ(Value(f, "bagel_rank_last_progress_timestamp_seconds", Rank("j1", 0)), 5);
  EXPECT_EQ(Value(f, "bagel_agent_progress_lines_total"), 6);
  EXPECT_EQ(Value(f, "bagel_agent_checkpoints_total"), 1);
}

// The trainer reports cumulative skipped-record counts by reason; an unknown reason is folded
// into "other" so the label stays bounded.
TEST(AgentMetricsTest, SkippedDataRecordsByReason) {
  auto m = AgentMetrics::Create();
  m->RankStarted("j", 0, 0);
  m->Line("j", 0, 0, R"({"event":"step","step":1,"ce":2.0})", 1);
  auto f = m->Collect();
  EXPECT_TRUE(std::isnan(Value(f, "bagel_rank_data_skipped_records_total",
                               {{"job_id", "j"}, {"rank", "0"}, {"reason", "bad_image"}})));
  m->Line("j", 0, 0,
          R"({"event":"step","step":2,"ce":2.0,"data_skipped":3,)"
          R"("data_skipped_by_reason":{"bad_image":2,"weird-reason":1}})",
          2);
  m->Line("j", 0, 0,
          R"({"event":"step","step":3,"ce":2.0,"data_skipped":5,)"
          R"("data_skipped_by_reason":{"bad_image":3,"too_long":1,"weird-reason":1}})",
          3);
  f = m->Collect();
  auto reason = [](const char* r) { return Labels{{"job_id", "j"}, {"rank", "0"}, {"reason", r}}; };
  EXPECT_EQ(Value(f, "bagel_rank_data_skipped_records_total", reason("bad_image")), 3);
  EXPECT_EQ(Value(f, "bagel_rank_data_skipped_records_total", reason("too_long")), 1);
  EXPECT_EQ(Value(f, "bagel_rank_data_skipped_records_total", reason("other")), 1);
}

// A restart placed on this agent before the old attempt's process ended: the old attempt's late
// lines and exit leave the new attempt's series alone.
TEST(AgentMetricsTest, LateLinesAndExitsOfAReplacedAttemptAreIgnored) {
  auto m = AgentMetrics::Create(nullptr, /*keep_finished=*/0);
  m->RankStarted("j", 0, 0);
  m->RankStarted("j", 1, 0);
  m->Line("j", 1, 0, R"({"event":"step","step":5,"ce":1.5})", 1);
  m->Line("j", 0, 0, R"({"event":"step","step":9,"ce":9.0})", 2);
  m->RankExited("j", 0, 0, 137);
  auto f = m->Collect();
  EXPECT_EQ(Value(f, "bagel_rank_running", Rank("j", 0)), 1);
  EXPECT_EQ(Value(f, "bagel_rank_step", Rank("j", 0)), 5);
  EXPECT_EQ(Value(f, "bagel_rank_loss", Head("j", 0, "ce")), 1.5);
  EXPECT_EQ(Value(f, "bagel_agent_rank_exits_total", {{"reason", "signal"}}), 1);
  m->RankExited("j", 1, 0, 0);
  f = m->Collect();
  EXPECT_TRUE(std::isnan(Value(f, "bagel_rank_running", Rank("j", 0))));  // keep_finished 0
}

TEST(AgentMetricsTest, StageOneHasNoMseHead) {
  auto m = AgentMetrics::Create();
  m->RankStarted("j", 0, 0);
  m->Line("j", 0, 0, R"({"event":"step","step":1,"ce":2.0,"mse":0.0,"mse_tokens":0})", 1);
  auto f = m->Collect();
  EXPECT_EQ(Value(f, "bagel_rank_loss", Head("j", 0, "ce")), 2.0);
  EXPECT_TRUE(std::isnan(Value(f, "bagel_rank_loss", Head("j", 0, "mse"))));
}

TEST(AgentMetricsTest, CountsStartsRestartsAndExitsByReasonAndKeepsFewFinishedRanks) {
  auto m = AgentMetrics::Create(nullptr, /*keep_finished=*/2);
  m->RankStarted("a", 0, 0);
  m->RankExited("a", 0, 0, 4);
  m->RankStarted("a", 1, 0);  // the restart continues the series
  m->RankExited("a", 1, 0, 0);
  m->RankStarted("b", 0, 0);
  m->RankExited("b", 0, 0, 137);
  m->RankStarted("c", 0, 0);
  m->RankExited("c", 0, 0, 127);
  auto f = m->Collect();
  EXPECT_EQ(Value(f, "bagel_agent_rank_starts_total"), 4);
  EXPECT_EQ(Value(f, "bagel_agent_rank_restarts_total"), 1);
  EXPECT_EQ(Value(f, "bagel_agent_rank_exits_total", {{"reason", "collective_failure"}}), 1);
  EXPECT_EQ(Value(f, "bagel_agent_rank_exits_total", {{"reason", "completed"}}), 1);
  EXPECT_EQ(Value(f, "bagel_agent_rank_exits_total", {{"reason", "signal"}}), 1);
  EXPECT_EQ(Value(f, "bagel_agent_rank_exits_total", {{"reason", "launch_failure"}}), 1);
  EXPECT_EQ(Value(f, "bagel_agent_rank_exits_total", {{"reason", "lost"}}), 0);
  // Only the two newest finished ranks keep series.
  EXPECT_TRUE(std::isnan(Value(f, "bagel_rank_running", Rank("a", 0))));
  EXPECT_EQ(Value(f, "bagel_rank_running", Rank("b", 0)), 0);
  EXPECT_EQ(Value(f, "bagel_rank_running", Rank("c", 0)), 0);
}

TEST(AgentMetricsTest, ExportsHealthAndGpuMemoryAtScrapeTime) {
  auto m = AgentMetrics::Create([] {
    return absl::StatusOr<std::vector<GpuMemory>>(
        std::vector<GpuMemory>{{0, int64_t{3} << 30, int64_t{80} << 30}});
  });
  m->SetHealthSource([] {
    AgentHealth h;
    h.registered = true;
    h.last_heartbeat_unix_ms = 7000;
    h.ranks_running = 2;
    h.gpus = 8;
    h.gpus_free = 6;
    h.backlog_progress = 3;
    return h;
  });
  m->Registered(true);
  m->Heartbeat(false);
  auto f = m->Collect();
  EXPECT_EQ(Value(f, "bagel_agent_registered"), 1);
  EXPECT_EQ(Value(f, "bagel_agent_last_heartbeat_timestamp_seconds"), 7);
  EXPECT_EQ(Value(f, "bagel_agent_ranks", {{"state", "running"}}), 2);
  EXPECT_EQ(Value(f, "bagel_agent_gpus", {{"state", "allocated"}}), 2);
  EXPECT_EQ(Value(f, "bagel_agent_pending_reports", {{"kind", "progress"}}), 3);
  EXPECT_EQ(Value(f, "bagel_agent_registrations_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(Value(f, "bagel_agent_heartbeats_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(Value(f, "bagel_gpu_memory_used_bytes", {{"gpu", "0"}}), double(int64_t{3} << 30));
  EXPECT_EQ(Value(f, "bagel_gpu_memory_total_bytes", {{"gpu", "0"}}), double(int64_t{80} << 30));
  EXPECT_EQ(Value(f, "bagel_build_info",
                  {{"component", "worker"},
                   {"version", metrics::BuildVersion()},
                   {"revision", metrics::BuildRevision()}}),
            1);
}

TEST(AgentMetricsTest, EveryFamilyIsInTheCatalogueWithItsTypeHelpAndLabels) {
  auto m = AgentMetrics::Create([] {
    return absl::StatusOr<std::vector<GpuMemory>>(std::vector<GpuMemory>{{0, 1, 2}});
  });
  m->SetHealthSource([] {
    AgentHealth h;
    h.last_heartbeat_unix_ms = 1;
    return h;
  });
  m->RankStarted("j", 0, 0);
  m->Line("j", 0, 0,
          R"({"event":"step","step":1,"total_steps":2,"ce":2.0,"mse":1.0,"tokens":10,)"
          R"("data_skipped":1,"data_skipped_by_reason":{"malformed":1}})",
          1);
  m->Line("j", 0, 0, R"({"event":"checkpoint","step":1,"bytes":1,"seconds":1})", 2);
  m->Line("j", 0, 0, R"({"event":"eval","step":1,"val_ce":1,"val_mse":1})", 3);
  std::map<std::string, const metrics::MetricDef*> catalogue;
  for (const auto& d : AgentMetrics::Catalogue()) {
    EXPECT_TRUE(catalogue.emplace(d.name, &d).second) << "duplicate " << d.name;
  }
  std::set<std::string> seen;
  const auto families = m->Collect();
  for (const auto& f : families) {
    ASSERT_TRUE(catalogue.count(f.name)) << f.name << " is not in the catalogue";
    const auto& d = *catalogue[f.name];
    EXPECT_EQ(f.type, d.type) << f.name;
    EXPECT_EQ(f.help, d.help) << f.name;
    EXPECT_TRUE(seen.insert(f.name).second) << "family twice: " << f.name;
    const auto names = metrics::LabelNames(d);
    for (const auto& s : f.metric) {
      ASSERT_EQ(s.label.size(), names.size()) << f.name;
      for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(s.label[i].name, names[i]) << f.name;
    }
  }
  for (const auto& [name, d] : catalogue) EXPECT_TRUE(seen.count(name)) << name << " not exported";
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  EXPECT_NE(text.str().find("# TYPE bagel_rank_tokens_total counter"), std::string::npos);
}

}  // namespace
}  // namespace bagel::agent
