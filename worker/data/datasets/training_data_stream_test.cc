#include "worker/data/datasets/training_data_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "testing/reference_data.h"
#include "testing/temp_dir.h"
#include "worker/data/datasets/dataset_generator.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class StreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new bagel::testing::TempDir();
    DatasetGeneratorOptions o;
    o.out_dir = root_->File("good");
    good_ = new GeneratedDataset(GenerateDatasets(o));
    o.out_dir = root_->File("bad");
    o.bad_data = true;
    bad_ = new GeneratedDataset(GenerateDatasets(o));
  }
  static void TearDownTestSuite() {
    delete good_;
    delete bad_;
    delete root_;
    root_ = nullptr;
  }

  static config::DataGroupSpec Group(const GeneratedDataset& d, const std::string& type) {
    config::DataGroupSpec g;
    g.name = type;
    g.type = type;
    g.vit_transform = {56, 28, 14, 1 << 20};
    g.vae_transform = {64, 32, 16, 1 << 20};
    if (type == "vlm_sft") {
      g.paths = {d.vlm_jsonl};
      g.image_root = d.vlm_images;
    } else if (type == "text") {
      g.paths = {d.text_jsonl};
    } else if (type == "t2i") {
      g.paths = {d.t2i_dir};
    } else {
      g.paths = {d.edit_dir};
      g.parquet_info = d.edit_parquet_info;
    }
    return g;
  }

  DataStreamOptions Options(std::vector<config::DataGroupSpec> groups, int rank, int world,
                            int threads) {
    DataStreamOptions o;
    o.data.groups = std::move(groups);
    o.data.expected_num_tokens = 256;
    o.data.max_num_tokens = 384;
    o.data.max_num_tokens_per_sample = 300;
    o.data.prefer_buffer_before = 128;
    o.data.max_buffer_size = 4;
    o.data.cfg_dropout = {0.1, 0.3, 0.3};
    o.data.loader_threads = threads;
    o.tokenizer_dir = bagel::testing::GoldenTokenizerDir();
    o.rank = rank;
    o.world_size = world;
    o.seed = 7;
    o.log = [this](const std::string& line) { logs_.push_back(line); };
    return o;
  }

  std::vector<config::DataGroupSpec> AllGroups(const GeneratedDataset& d) {
    return {Group(d, "vlm_sft"), Group(d, "text"), Group(d, "t2i"), Group(d, "edit")};
  }

  static bagel::testing::TempDir* root_;
  static GeneratedDataset* good_;
  static GeneratedDataset* bad_;
  std::vector<std::string> logs_;
};
bagel::testing::TempDir* StreamTest::root_ = nullptr;
GeneratedDataset* StreamTest::good_ = nullptr;
GeneratedDataset* StreamTest::bad_ = nullptr;

void ExpectSameBatch(const DataBatch& a, const DataBatch& b) {
  ASSERT_EQ(a.samples, b.samples);
  const PackedBatch &x = a.packed.batch, &y = b.packed.batch;
  EXPECT_EQ(x.sequence_length, y.sequence_length);
  EXPECT_EQ(x.sample_lens, y.sample_lens);
  EXPECT_TRUE(x.packed_text_ids.equal(y.packed_text_ids));
  EXPECT_TRUE(x.packed_position_ids.equal(y.packed_position_ids));
  EXPECT_EQ(x.packed_timesteps.defined(), y.packed_timesteps.defined());
  if (x.packed_timesteps.defined()) {
    EXPECT_TRUE(x.packed_timesteps.equal(y.packed_timesteps));
  }
  EXPECT_EQ(x.packed_vit_tokens.defined(), y.packed_vit_tokens.defined());
  if (x.packed_vit_tokens.defined()) {
    EXPECT_TRUE(x.packed_vit_tokens.equal(y.packed_vit_tokens));
  }
  EXPECT_EQ(a.packed.padded_images.defined(), b.packed.padded_images.defined());
  if (a.packed.padded_images.defined()) {
    EXPECT_TRUE(a.packed.padded_images.equal(b.packed.padded_images));
  }
}

TEST_F(StreamTest, PacksEveryGroupKindIntoConsistentBatches) {
  TrainingDataStream s(Options(AllGroups(*good_), 0, 1, 2));
  EXPECT_EQ(s.tokens().bos, 151644);
  EXPECT_EQ(s.tokens().end_of_image, 151653);
  std::set<int> groups;
  for (int i = 0; i < 12; ++i) {
    const DataBatch b = s.Next();
    ASSERT_FALSE(b.samples.empty());
    int64_t total = 0;
    for (int64_t l : b.packed.batch.sample_lens) total += l;
    EXPECT_EQ(total, b.packed.batch.sequence_length);
    EXPECT_EQ(b.packed.batch.packed_position_ids.numel(), total);
    EXPECT_LE(total, 384);
    for (const auto& r : b.samples) groups.insert(r.group);
  }
  EXPECT_EQ(groups, (std::set<int>{0, 1, 2, 3}));
  const DataStats st = s.Stats();
  EXPECT_EQ(st.batches, 12);
  EXPECT_GT(st.samples, 12);
  EXPECT_EQ(st.total_skipped(),
            st.skipped.count(kSkipDroppedAtYield) ? st.skipped.at(kSkipDroppedAtYield) : 0);
}

// A run restored from State() (through its JSON text) after 4 batches yields exactly batches
// 5..10 of an uninterrupted run, prefetching threads and buffered samples included.
TEST_F(StreamTest, ResumeAtTheSameWorldSizeIsExact) {
  // A tight budget, so that samples wait in the buffer.
  auto options = [&] {
    DataStreamOptions o = Options(AllGroups(*good_), 1, 2, 2);
    o.data.expected_num_tokens = 300;
    o.data.max_num_tokens = 320;
    o.data.prefer_buffer_before = 64;
    return o;
  };
  std::vector<DataBatch> full;
  {
    TrainingDataStream s(options());
    for (int i = 0; i < 10; ++i) full.push_back(s.Next());
  }
  json saved;
  {
    TrainingDataStream s(options());
    for (int i = 0; i < 4; ++i) ExpectSameBatch(s.Next(), full[i]);
    saved = json::parse(s.State().dump());
  }
  bool any_buffered = false;
  for (const auto& w : saved["workers"]) any_buffered |= !w["buffer"].empty();
  TrainingDataStream s(options());
  s.Restore(
      {json::object(
           {{"version", 1}, {"world_size", 2}, {"num_workers", 2}, {"workers", json::array()}}),
       saved});
  for (int i = 4; i < 10; ++i) {
    SCOPED_TRACE(i);
    ExpectSameBatch(s.Next(), full[i]);
  }
  EXPECT_TRUE(any_buffered) << "the saved state should hold buffered samples";
}

// The official sharding: per group, (rank, worker) item sets are disjoint and equal in size for
// 1, 2 and 3 ranks; and every rank keeps producing batches (ranks stay in step).
TEST_F(StreamTest, ShardsAreDisjointAndRanksStayInStep) {
  for (int world : {1, 2, 3}) {
    SCOPED_TRACE(world);
    std::set<std::tuple<int, int64_t, int32_t, int64_t>> seen;
    for (int rank = 0; rank < world; ++rank) {
      TrainingDataStream s(Options(AllGroups(*good_), rank, world, 2));
      for (size_t g = 0; g < 4; ++g) {
        const int64_t n = static_cast<int64_t>(s.catalog(g).items.size());
        std::set<int64_t> items;
        for (int w = 0; w < 2; ++w) {
          const auto shard = s.ShardItems(g, world, rank, w, 2);
          EXPECT_EQ(static_cast<int64_t>(shard.size()), n / world / 2);
          items.insert(shard.begin(), shard.end());
        }
        for (int64_t other = 0; other < world; ++other) {
          if (other == rank) continue;
          for (int w = 0; w < 2; ++w) {
            for (int64_t it : s.ShardItems(g, world, other, w, 2)) EXPECT_FALSE(items.count(it));
          }
        }
      }
      for (int i = 0; i < 6; ++i) {
        const DataBatch b = s.Next();
        ASSERT_GT(b.packed.batch.sequence_length, 0);
        for (const auto& r : b.samples) {
          if (r.pass != 0) continue;
          // A record read by two ranks in the same pass would be a repeat.
          EXPECT_TRUE(seen.insert({r.group, r.item, r.row_group, r.row}).second)
              << "group " << r.group << " item " << r.item << " read twice";
        }
      }
    }
  }
}

// Resume at another world size: the unread rest of each old rank's pass is dealt to the new
// ranks; over the old and new runs no item of the pass is lost or repeated.
TEST_F(StreamTest, ResumeAtAnotherWorldSizeLosesAndRepeatsNothing) {
  auto options = [&](int rank, int world) {
    DataStreamOptions o = Options({Group(*good_, "text")}, rank, world, 1);
    o.data.expected_num_tokens = 60;
    o.data.max_num_tokens = 2000;
    o.data.max_num_tokens_per_sample = 1000;
    return o;
  };
  std::multiset<int64_t> read;
  std::vector<json> saved;
  std::set<int64_t> pass_items;
  for (int rank = 0; rank < 2; ++rank) {
    TrainingDataStream s(options(rank, 2));
    for (int64_t it : s.ShardItems(0, 2, rank, 0, 1)) pass_items.insert(it);
    for (int i = 0; i < 2; ++i) {
      for (const auto& r : s.Next().samples) {
        ASSERT_EQ(r.pass, 0);
        read.insert(r.item);
      }
    }
    saved.push_back(s.State());
  }
  ASSERT_GT(read.size(), 0u);
  ASSERT_LT(read.size(), pass_items.size());
  for (int rank = 0; rank < 3; ++rank) {
    TrainingDataStream s(options(rank, 3));
    s.Restore(saved);
    bool next_pass = false;
    for (int i = 0; i < 40 && !next_pass; ++i) {
      for (const auto& r : s.Next().samples) {
        if (r.pass == 0) {
          read.insert(r.item);
        } else {
          next_pass = true;
        }
      }
    }
    EXPECT_TRUE(next_pass);
  }
  EXPECT_EQ(std::set<int64_t>(read.begin(), read.end()), pass_items);
  EXPECT_EQ(read.size(), pass_items.size()) << "an item was read twice";
}

bool AnyLogHas(const std::vector<std::string>& logs, const std::string& a, const std::string& b) {
  for (const auto& l : logs) {
    if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return true;
  }
  return false;
}

// Each kind of bad data is skipped, counted and logged with its file and line / row.
TEST_F(StreamTest, BadDataIsSkippedCountedAndLogged) {
  DataStreamOptions o = Options({Group(*bad_, "vlm_sft"), Group(*bad_, "t2i")}, 0, 1, 0);
  o.data.max_num_tokens_per_sample = 2000;
  o.data.max_num_tokens = 2200;
  TrainingDataStream s(std::move(o));
  for (int i = 0; i < 30; ++i) s.Next();
  const DataStats st = s.Stats();
  for (const char* reason : {kSkipMalformed, kSkipMissingImage, kSkipBadImage, kSkipTooLong}) {
    EXPECT_GE(st.skipped.count(reason) ? st.skipped.at(reason) : 0, 1) << reason;
  }
  EXPECT_TRUE(AnyLogHas(logs_, "malformed", "train.jsonl:25")) << logs_.size();
  EXPECT_TRUE(AnyLogHas(logs_, "missing_image", "train.jsonl:26"));
  EXPECT_TRUE(AnyLogHas(logs_, "bad_image", "corrupt.jpg"));
  EXPECT_TRUE(AnyLogHas(logs_, "too_long", "train.jsonl:28"));
  EXPECT_TRUE(AnyLogHas(logs_, "bad_image", "part-00000.parquet row group 0 row 1"));
}

TEST_F(StreamTest, ADatasetThatYieldsNothingIsAClearError) {
  const fs::path file = root_->path() / "all_bad.jsonl";
  {
    std::ofstream out(file);
    for (int i = 0; i < 6; ++i) out << "{not json\n";
  }
  config::DataGroupSpec g;
  g.name = "broken";
  g.type = "text";
  g.paths = {file.string()};
  TrainingDataStream s(Options({g}, 0, 1, 0));
  try {
    s.Next();
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    const std::string m = e.what_without_backtrace();
    EXPECT_NE(m.find("'broken'"), std::string::npos) << m;
    EXPECT_NE(m.find("no usable sample"), std::string::npos) << m;
  }
}

// A checkpoint's data position over a dataset that has since changed is an error at Restore
// naming the group, not cursors pointing at other (or no) items; a state written before the
// item counts were saved still loads, with its indices bounds-checked.
TEST_F(StreamTest, RestoreOverAChangedDatasetIsAClearError) {
  json saved;
  {
    TrainingDataStream s(Options({Group(*good_, "t2i")}, 0, 1, 0));
    for (int i = 0; i < 2; ++i) s.Next();
    saved = json::parse(s.State().dump());
  }
  ASSERT_EQ(saved["group_items"], json::array({6}));
  config::DataGroupSpec fewer = Group(*good_, "t2i");
  fewer.paths.clear();
  for (const auto& e : fs::directory_iterator(good_->t2i_dir)) {
    if (e.path().extension() == ".parquet") fewer.paths.push_back(e.path().string());
  }
  std::sort(fewer.paths.begin(), fewer.paths.end());
  fewer.paths.resize(3);
  auto expect_error = [&](const json& state, const std::string& needle) {
    TrainingDataStream s(Options({fewer}, 0, 1, 0));
    try {
      s.Restore({state});
      FAIL() << "no error for " << state.dump();
    } catch (const c10::Error& e) {
      const std::string m = e.what_without_backtrace();
      EXPECT_NE(m.find("t2i"), std::string::npos) << m;
      EXPECT_NE(m.find(needle), std::string::npos) << m;
    }
  };
  expect_error(saved, "now has 3");
  // Without group_items (an older checkpoint): positions outside the new catalog are caught.
  json old = saved;
  old.erase("group_items");
  {
    json s = old;
    s["workers"][0]["groups"][0]["unit"] = 5;
    expect_error(s, "outside this worker's 3 units");
  }
  {
    json s = old;
    s["workers"][0]["groups"][0]["unit"] = 0;
    s["workers"][0]["groups"][0]["units"] = json::array({json::array({5, 0, 0, 0})});
    expect_error(s, "at item 5");
  }
  {
    json s = old;
    s["workers"][0]["buffer"] = json::array({json::array({0, 0, 5, 0, 0})});
    expect_error(s, "at item 5");
  }
  {  // The same at another geometry (2 ranks, resharded).
    json s = old;
    s["workers"][0]["groups"][0]["units"] = json::array({json::array({5, 0, 0, 0})});
    s["workers"][0]["groups"][0]["unit"] = 0;
    TrainingDataStream t(Options({fewer}, 0, 2, 0));
    EXPECT_THROW(t.Restore({s}), c10::Error);
  }
  // An older state over the unchanged dataset still resumes.
  TrainingDataStream same(Options({Group(*good_, "t2i")}, 0, 1, 0));
  same.Restore({old});
  EXPECT_FALSE(same.Next().samples.empty());
}

TEST_F(StreamTest, TooFewFilesForRanksAndWorkersIsAClearError) {
  try {
    TrainingDataStream s(Options({Group(*good_, "t2i")}, 0, 4, 2));
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    const std::string m = e.what_without_backtrace();
    EXPECT_NE(m.find("data.groups[0] (t2i)"), std::string::npos) << m;
    EXPECT_NE(m.find("6 files"), std::string::npos) << m;
  }
  config::DataGroupSpec big = Group(*good_, "t2i");
  big.vae_transform = {1024, 512, 16, 1 << 24};  // the default packer's max_latent_size is 32
  try {
    TrainingDataStream s(Options({big}, 0, 1, 0));
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("vae_transform.max_size 1024"),
              std::string::npos)
        << e.what_without_backtrace();
  }
  config::DataGroupSpec missing = Group(*good_, "text");
  missing.paths = {"/nonexistent/train.jsonl"};
  EXPECT_THROW(TrainingDataStream(Options({missing}, 0, 1, 0)), c10::Error);
}

}  // namespace
}  // namespace bagel::data
