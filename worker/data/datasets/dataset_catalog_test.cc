#include "worker/data/datasets/dataset_catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"
#include "worker/data/sharding/python_random.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;

// The official split: equal slices per rank (remainder unused), then per worker, each worker's
// slice reversed; without workers the rank's slice in order.
TEST(ShardOf, SlicesPerRankThenPerWorkerReversed) {
  EXPECT_EQ(ShardOf(10, 0, 3, 0, 0), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(ShardOf(10, 2, 3, 0, 0), (std::vector<int64_t>{6, 7, 8}));
  EXPECT_EQ(ShardOf(20, 0, 2, 0, 2), (std::vector<int64_t>{4, 3, 2, 1, 0}));
  EXPECT_EQ(ShardOf(20, 1, 2, 1, 2), (std::vector<int64_t>{19, 18, 17, 16, 15}));
  EXPECT_EQ(ShardOf(21, 1, 2, 0, 3), (std::vector<int64_t>{12, 11, 10}));
  EXPECT_TRUE(ShardOf(3, 0, 4, 0, 0).empty());
}

class CatalogTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.path() / name) << text;
    return (dir_.path() / name).string();
  }
  config::DataGroupSpec Spec(const std::string& type, std::vector<std::string> paths) {
    config::DataGroupSpec s;
    s.name = "g";
    s.type = type;
    s.paths = std::move(paths);
    return s;
  }
  bagel::testing::TempDir dir_;
  std::vector<std::string> notes_;
  std::function<void(const std::string&)> log_ = [this](const std::string& l) {
    notes_.push_back(l);
  };
};

// JSONL: the first num_used_data lines of each file, sorted as the official (line, image_dir)
// tuples, then shuffled with random.Random(shuffle_seed).
TEST_F(CatalogTest, JsonlLinesSortedThenShuffled) {
  const std::string f =
      Write("a.jsonl", "{\"t\":\"d\"}\n{\"t\":\"b\"}\n{\"t\":\"c\"}\n{\"t\":\"a\"}\n");
  config::DataGroupSpec spec = Spec("text", {f});
  spec.num_used_data = 3;
  const GroupCatalog c = BuildCatalog(spec, 0, log_);
  ASSERT_EQ(c.items.size(), 3u);
  std::vector<std::string> expected = {"{\"t\":\"b\"}", "{\"t\":\"c\"}", "{\"t\":\"d\"}"};
  PythonRandom(42).Shuffle(expected);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(c.Line(c.items[i]), expected[i]) << i;
  EXPECT_NE(c.Describe(c.items[0]).find("a.jsonl:"), std::string::npos);
}

// T2I: a directory's parquet files, repeated to num_used_data, sorted, shuffled.
TEST_F(CatalogTest, ParquetFilesRepeatToNumUsedData) {
  fs::create_directories(dir_.path() / "t2i");
  for (const char* n : {"b.parquet", "a.parquet", "c.parquet", "skip.txt"}) {
    std::ofstream(dir_.path() / "t2i" / n) << "x";
  }
  config::DataGroupSpec spec = Spec("t2i", {(dir_.path() / "t2i").string()});
  spec.num_used_data = 5;
  spec.shuffle_seed = 3;
  const GroupCatalog c = BuildCatalog(spec, 0, log_);
  ASSERT_EQ(c.items.size(), 5u);
  std::vector<std::string> expected = {"a", "a", "b", "b", "c"};
  PythonRandom(3).Shuffle(expected);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(fs::path(c.files[c.items[i].file]).stem(), expected[i]) << i;
  }
}

// Edit: (file, row group) pairs from parquet_info; unlisted files are skipped with a note.
TEST_F(CatalogTest, EditItemsAreRowGroupsFromParquetInfo) {
  fs::create_directories(dir_.path() / "edit");
  for (const char* n : {"x.parquet", "y.parquet", "z.parquet"})
    std::ofstream(dir_.path() / "edit" / n) << "x";
  config::DataGroupSpec spec = Spec("edit", {(dir_.path() / "edit").string()});
  spec.parquet_info = Write("info.json", "{\"" + (dir_.path() / "edit" / "x.parquet").string() +
                                             "\": {\"num_row_groups\": 2}, \"" +
                                             (dir_.path() / "edit" / "y.parquet").string() +
                                             "\": {\"num_row_groups\": 3}}");
  const GroupCatalog c = BuildCatalog(spec, 0, log_);
  EXPECT_EQ(c.items.size(), 5u);
  int x = 0, y = 0;
  for (const auto& it : c.items) {
    (fs::path(c.files[it.file]).stem() == "x" ? x : y)++;
    EXPECT_GE(it.row_group, 0);
  }
  EXPECT_EQ(x, 2);
  EXPECT_EQ(y, 3);
  ASSERT_EQ(notes_.size(), 1u);
  EXPECT_NE(notes_[0].find("z.parquet"), std::string::npos);
}

TEST_F(CatalogTest, ErrorsNameTheGroupAndPath) {
  auto error = [&](const config::DataGroupSpec& spec) {
    try {
      BuildCatalog(spec, 2, log_);
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(Spec("text", {"/nonexistent.jsonl"})).find("data.groups[2] (g)"),
            std::string::npos);
  EXPECT_NE(error(Spec("text", {"/nonexistent.jsonl"})).find("/nonexistent.jsonl"),
            std::string::npos);
  fs::create_directories(dir_.path() / "empty");
  EXPECT_NE(error(Spec("t2i", {(dir_.path() / "empty").string()})).find("no *.parquet"),
            std::string::npos);
  EXPECT_NE(error(Spec("text", {Write("e.jsonl", "")})).find("no lines"), std::string::npos);
  EXPECT_NE(error(Spec("edit", {(dir_.path() / "empty").string()})).find("parquet"),
            std::string::npos);
  EXPECT_NE(error(Spec("video", {})).find("'video'"), std::string::npos);
}

}  // namespace
}  // namespace bagel::data
