#include "worker/data/parquet/parquet_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "worker/data/parquet/parquet_writer.h"
#include "worker/data/testing/reference_data.h"

namespace bagel::data::parquet {
namespace {

using bagel::data::testing::ReadFileBytes;
using bagel::data::testing::ReferencePath;

// A T2I file written by pyarrow (snappy, dictionary pages, 2 row groups, a null image, an
// extra int64 column that is never read) and the same table as GZIP data pages v2, PLAIN.
TEST(ParquetFile, ReadsPyarrowT2iFiles) {
  for (const char* name : {"t2i_snappy.parquet", "t2i_gzip_v2.parquet", "t2i_zstd.parquet"}) {
    SCOPED_TRACE(name);
    if (std::string(name) == "t2i_zstd.parquet" && !CodecSupported(6)) {
      // A build without libzstd names the codec and the file.
      auto f = ParquetFile::Open(ReferencePath(name));
      try {
        f->ReadColumn(0, "image");
        ADD_FAILURE() << "ZSTD read without libzstd";
      } catch (const ParquetError& e) {
        EXPECT_NE(std::string(e.what()).find("ZSTD"), std::string::npos) << e.what();
      }
      continue;
    }
    auto f = ParquetFile::Open(ReferencePath(name));
    EXPECT_EQ(f->num_rows(), 6);
    EXPECT_TRUE(f->HasColumn("image"));
    EXPECT_TRUE(f->HasColumn("captions"));
    EXPECT_FALSE(f->HasColumn("missing"));
    int64_t row = 0;
    for (int rg = 0; rg < f->num_row_groups(); ++rg) {
      const ColumnLevels images = f->ReadColumn(rg, "image");
      const ColumnLevels captions = f->ReadColumn(rg, "captions");
      ASSERT_EQ(static_cast<int64_t>(images.num_rows()), f->row_group_rows(rg));
      for (size_t r = 0; r < images.num_rows(); ++r, ++row) {
        const auto img = images.Scalar(r);
        const auto cap = captions.Scalar(r);
        ASSERT_TRUE(cap.has_value());
        if (row == 5) {
          EXPECT_FALSE(img.has_value());
          EXPECT_EQ(*cap, "{}");
          continue;
        }
        ASSERT_TRUE(img.has_value());
        EXPECT_EQ(img->substr(1, 3), "PNG");
        EXPECT_EQ(nlohmann::json::parse(*cap)["short"], "picture " + std::to_string(row));
      }
    }
    EXPECT_EQ(row, 6);
  }
}

TEST(ParquetFile, ReadsPyarrowEditFile) {
  auto f = ParquetFile::Open(ReferencePath("edit.parquet"));
  ASSERT_EQ(f->num_rows(), 4);
  int64_t row = 0;
  for (int rg = 0; rg < f->num_row_groups(); ++rg) {
    const ColumnLevels images = f->ReadColumn(rg, "image_list");
    const ColumnLevels instr = f->ReadColumn(rg, "instruction_list");
    for (size_t r = 0; r < images.num_rows(); ++r, ++row) {
      const auto list = images.List(r);
      EXPECT_EQ(static_cast<int64_t>(list.size()), 2 + row % 2);
      const auto lists = instr.ListOfLists(r);
      ASSERT_EQ(static_cast<int64_t>(lists.size()), 1 + row % 2);
      for (size_t k = 0; k < lists.size(); ++k) {
        ASSERT_EQ(lists[k].size(), 2u);
        EXPECT_EQ(*lists[k][0], "step " + std::to_string(k) + " of " + std::to_string(row));
      }
    }
  }
  EXPECT_EQ(row, 4);
}

TEST(ParquetFile, WriterRoundTrips) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "bagel_parquet_roundtrip.parquet").string();
  std::vector<ColumnSpec> cols = {{"image", ColumnKind::kBinary},
                                  {"captions", ColumnKind::kString},
                                  {"image_list", ColumnKind::kBinaryList},
                                  {"instruction_list", ColumnKind::kStringListList}};
  std::vector<Row> rows;
  for (int i = 0; i < 7; ++i) {
    Row r(4);
    r[0].scalar = std::string("\0bin", 4) + std::to_string(i);
    r[1].scalar = "caption " + std::to_string(i);
    for (int k = 0; k <= i % 3; ++k) r[2].list.push_back("img" + std::to_string(k));
    for (int k = 0; k < i % 3; ++k) r[3].lists.push_back({"a" + std::to_string(k), "b"});
    rows.push_back(r);
  }
  WriteParquet(path, cols, rows, 3);
  auto f = ParquetFile::Open(path);
  ASSERT_EQ(f->num_rows(), 7);
  ASSERT_EQ(f->num_row_groups(), 3);
  int64_t row = 0;
  for (int rg = 0; rg < f->num_row_groups(); ++rg) {
    const auto a = f->ReadColumn(rg, "image"), b = f->ReadColumn(rg, "captions"),
               c = f->ReadColumn(rg, "image_list"), d = f->ReadColumn(rg, "instruction_list");
    for (size_t r = 0; r < a.num_rows(); ++r, ++row) {
      EXPECT_EQ(*a.Scalar(r), rows[row][0].scalar);
      EXPECT_EQ(*b.Scalar(r), rows[row][1].scalar);
      const auto list = c.List(r);
      ASSERT_EQ(list.size(), rows[row][2].list.size());
      for (size_t k = 0; k < list.size(); ++k) EXPECT_EQ(*list[k], rows[row][2].list[k]);
      const auto lists = d.ListOfLists(r);
      ASSERT_EQ(lists.size(), rows[row][3].lists.size());
      for (size_t k = 0; k < lists.size(); ++k) EXPECT_EQ(*lists[k][0], rows[row][3].lists[k][0]);
    }
  }
  EXPECT_EQ(row, 7);
  std::filesystem::remove(path);
}

TEST(ParquetFile, ErrorsNameTheFile) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string bad = (dir / "bagel_not_parquet.parquet").string();
  { std::ofstream(bad) << "definitely not a parquet file"; }
  for (const std::string& path : {bad, std::string("/nonexistent/x.parquet")}) {
    try {
      ParquetFile::Open(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const ParquetError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  auto f = ParquetFile::Open(ReferencePath("t2i_snappy.parquet"));
  EXPECT_THROW(f->ReadColumn(0, "missing"), ParquetError);
  EXPECT_THROW(f->ReadColumn(0, "image").List(0), ParquetError);
  std::filesystem::remove(bad);
}

TEST(Snappy, DecodesLiteralsAndCopies) {
  // "abcabcabcabc": varint 12, literal "abc" (tag (3-1)<<2), copy-1 len 9 offset 3.
  const std::string data = std::string(
                               "\x0c\x08"
                               "abc",
                               5) +
                           std::string("\x15\x03", 2);
  EXPECT_EQ(SnappyDecompress(data, "test"), "abcabcabcabc");
  EXPECT_THROW(SnappyDecompress("\x0c\x08"
                                "a",
                                "test"),
               ParquetError);
}

}  // namespace
}  // namespace bagel::data::parquet
