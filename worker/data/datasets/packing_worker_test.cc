#include "worker/data/datasets/packing_worker.h"

#include <gtest/gtest.h>

#include <set>

#include "worker/data/testing/generated_data.h"

namespace bagel::data {
namespace {

using testing::GeneratedData;

class PackingWorkerTest : public ::testing::Test {
 protected:
  // Groups: "text" (JSONL) and "t2i" (parquet) of the generated data.
  void AddGroup(const std::string& type) {
    const GeneratedDataset& d = GeneratedData::Get(false);
    config::DataGroupSpec s;
    s.name = type;
    s.type = type;
    s.paths = {type == "t2i" ? d.t2i_dir : d.text_jsonl};
    catalogs_.push_back(std::make_unique<GroupCatalog>(
        BuildCatalog(s, static_cast<int>(catalogs_.size()), nullptr)));
  }
  std::unique_ptr<PackingWorker> Make(std::vector<double> weights, std::vector<bool> mandatory,
                                      PackingBudget budget) {
    std::vector<std::unique_ptr<GroupReader>> readers;
    for (const auto& c : catalogs_) {
      std::vector<WorkUnit> units;
      for (size_t i = 0; i < c->items.size(); ++i) units.push_back({int64_t(i), 0, 0, false});
      readers.push_back(std::make_unique<GroupReader>(
          *c, units, BuildContext{&testing::SharedTokenizer(), &vit_, &vae_}, 5));
    }
    PackerConfig pc;
    pc.text_cond_dropout_prob = 0.1;
    return std::make_unique<PackingWorker>(std::move(readers), weights, mandatory, budget, pc,
                                           SpecialTokens{}, 77,
                                           [this](const std::string& l) { logs_.push_back(l); });
  }
  std::vector<std::unique_ptr<GroupCatalog>> catalogs_;
  ImageTransform vit_{ResizeRule{56, 28, 14, 1 << 20}};
  ImageTransform vae_{ResizeRule{64, 32, 16, 1 << 20}};
  std::vector<std::string> logs_;
};

TEST_F(PackingWorkerTest, MandatoryGroupOpensEverySequence) {
  AddGroup("text");
  AddGroup("t2i");
  auto w = Make({1, 1}, {false, true}, {200, 400, 300, 100, 4});
  for (int i = 0; i < 8; ++i) {
    const WorkerBatch b = w->Next();
    ASSERT_FALSE(b.samples.empty());
    EXPECT_EQ(b.samples[0].group, 1) << i;
    EXPECT_GE(b.packed.batch.sequence_length, 1);
    EXPECT_LE(b.packed.batch.sequence_length, 400);
  }
}

TEST_F(PackingWorkerTest, GroupsAreDrawnByWeight) {
  AddGroup("text");
  AddGroup("text");
  auto w = Make({3, 1}, {false, false}, {400, 4000, 300, 100, 4});
  int n[2] = {0, 0};
  for (int i = 0; i < 20; ++i) {
    for (const auto& r : w->Next().samples) n[r.group]++;
  }
  const double total = n[0] + n[1];
  ASSERT_GT(total, 200);
  EXPECT_NEAR(n[0] / total, 0.75, 0.08);
}

TEST_F(PackingWorkerTest, OverLongSamplesAreSkippedCountedAndLogged) {
  AddGroup("text");
  auto w = Make({1}, {false}, {40, 60, 22, 20, 4});
  DataStats total;
  for (int i = 0; i < 5; ++i) total.Add(w->Next().stats);
  EXPECT_GT(total.skipped[kSkipTooLong], 0);
  ASSERT_FALSE(logs_.empty());
  EXPECT_NE(logs_[0].find("train.jsonl:"), std::string::npos) << logs_[0];
  EXPECT_NE(logs_[0].find("max_num_tokens_per_sample 22"), std::string::npos) << logs_[0];
}

// Files repeat pass after pass: a bad record is counted every time it is met, logged once.
TEST_F(PackingWorkerTest, ARecordSkippedInEveryPassIsLoggedOnce) {
  AddGroup("text");
  auto w = Make({1}, {false}, {40, 60, 22, 20, 4});
  DataStats total;
  for (int i = 0; i < 60; ++i) total.Add(w->Next().stats);
  ASSERT_FALSE(logs_.empty());
  EXPECT_GT(total.skipped[kSkipTooLong], static_cast<int64_t>(logs_.size()));
  std::set<std::string> records;  // what follows "skipped (reason, #n): "
  for (const std::string& line : logs_) records.insert(line.substr(line.find("): ") + 3));
  EXPECT_EQ(records.size(), logs_.size());
}

// A dataset whose every sample is too long is an error naming the reason, not a hang.
TEST_F(PackingWorkerTest, NothingPackableIsAnErrorNotAHang) {
  AddGroup("text");
  auto w = Make({1}, {true}, {40, 60, 3, 20, 4});
  try {
    w->Next();
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("too_long"), std::string::npos)
        << e.what_without_backtrace();
  }
}

// The buffer: samples that do not fit wait; the state (rng, cursors, buffered samples) restores
// a worker that continues exactly.
TEST_F(PackingWorkerTest, StateRestoresBufferAndContinuesExactly) {
  AddGroup("text");
  AddGroup("t2i");
  const PackingBudget budget{150, 155, 150, 40, 4};
  auto a = Make({1, 1}, {false, false}, budget);
  nlohmann::json state;
  for (int i = 0; i < 20 && (state.empty() || state["buffer"].empty()); ++i) {
    state = a->Next().state_after;
  }
  ASSERT_FALSE(state["buffer"].empty()) << "no sample was buffered";
  auto b = Make({1, 1}, {false, false}, budget);
  b->Restore(nlohmann::json::parse(state.dump()));
  for (int i = 0; i < 4; ++i) {
    const WorkerBatch x = a->Next(), y = b->Next();
    EXPECT_EQ(x.samples, y.samples) << i;
    EXPECT_TRUE(x.packed.batch.packed_text_ids.equal(y.packed.batch.packed_text_ids));
    EXPECT_EQ(x.state_after, y.state_after);
  }
}

}  // namespace
}  // namespace bagel::data
