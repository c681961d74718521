#include "worker/data/parquet/parquet_file.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "testing/reference_data.h"
#include "testing/temp_dir.h"
#include "worker/data/parquet/parquet_writer.h"

namespace bagel::data::parquet {
namespace {

using bagel::testing::ReadFileBytes;
using bagel::testing::ReferencePath;

// A T2I file written by pyarrow (snappy, dictionary pages, 2 row groups, a null image, an
// extra int64 column that is never read), the same table as GZIP data pages v2, PLAIN, and ZSTD.
TEST(ParquetFile, ReadsPyarrowT2iFiles) {
  for (const char* name : {"t2i_snappy.parquet", "t2i_gzip_v2.parquet", "t2i_zstd.parquet"}) {
    SCOPED_TRACE(name);
    auto f = ParquetFile::Open(ReferencePath(name));
    EXPECT_EQ(f->num_rows(), 6);
    EXPECT_TRUE(f->HasColumn("image"));
    EXPECT_TRUE(f->HasColumn("captions"));
    EXPECT_FALSE(f->HasColumn("missing"));
    int64_t row = 0;
    for (int rg = 0; rg < f->num_row_groups(); ++rg) {
      const ParquetColumn images = f->ReadColumn(rg, "image");
      const ParquetColumn captions = f->ReadColumn(rg, "captions");
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
    const ParquetColumn images = f->ReadColumn(rg, "image_list");
    const ParquetColumn instr = f->ReadColumn(rg, "instruction_list");
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
  bagel::testing::TempDir dir;
  const std::string path = dir.File("roundtrip.parquet");
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
}

TEST(ParquetFile, ErrorsNameTheFile) {
  bagel::testing::TempDir dir;
  const std::string bad = dir.File("not_parquet.parquet");
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
  try {
    f->ReadColumn(0, "missing");
    ADD_FAILURE() << "no error for a missing column";
  } catch (const ParquetError& e) {
    EXPECT_NE(std::string(e.what()).find("column missing (row group 0): no such column (the file "
                                         "has: image, captions"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(f->ReadColumn(0, "image").List(0), ParquetError);
  EXPECT_THROW(f->ReadColumn(9, "image"), ParquetError);
  EXPECT_THROW(f->ReadColumn(0, "image").Scalar(99), ParquetError);
}

// A truncated file, or one with garbage written over any part of it (a killed writer, a bad
// disk), is a ParquetError naming the file or a read of other bytes, never another exception.
TEST(ParquetFile, TruncatedAndCorruptFilesAreParquetErrors) {
  bagel::testing::TempDir dir;
  const std::string good = bagel::testing::ReadFileBytes(ReferencePath("t2i_gzip_v2.parquet"));
  const std::string path = dir.File("corrupt.parquet");
  auto read_all = [&] {
    auto f = ParquetFile::Open(path);
    for (int rg = 0; rg < f->num_row_groups(); ++rg) {
      for (const char* column : {"image", "captions"}) {
        const ParquetColumn c = f->ReadColumn(rg, column);
        for (size_t r = 0; r < c.num_rows(); ++r) c.Scalar(r);
      }
    }
  };
  int errors = 0;
  for (size_t size :
       {size_t{0}, size_t{4}, good.size() / 3, good.size() / 2, good.size() - 9, good.size() - 1}) {
    SCOPED_TRACE("truncated to " + std::to_string(size));
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(good.data(), size);
    try {
      read_all();
      ADD_FAILURE() << "a truncated file was read";
    } catch (const ParquetError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  for (size_t at = 4; at + 16 < good.size(); at += good.size() / 23) {
    SCOPED_TRACE("garbage at " + std::to_string(at));
    std::string bad = good;
    for (size_t k = 0; k < 16; ++k) bad[at + k] = static_cast<char>(0xA5 ^ (k * 37));
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bad.data(), bad.size());
    try {
      read_all();
    } catch (const ParquetError& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 0);
}

// Writes `table` with one row group per `rows_per_group` rows.
void WriteTable(const arrow::Table& table, const std::string& path, int64_t rows_per_group = 2) {
  auto out = arrow::io::FileOutputStream::Open(path).ValueOrDie();
  ASSERT_TRUE(
      ::parquet::arrow::WriteTable(table, arrow::default_memory_pool(), out, rows_per_group).ok());
  ASSERT_TRUE(out->Close().ok());
}

template <typename Builder>
std::shared_ptr<arrow::Array> ArrayOf(std::shared_ptr<arrow::DataType> type,
                                      std::initializer_list<const char*> values) {
  Builder b(type, arrow::default_memory_pool());
  for (const char* v : values) {
    if (v == nullptr) {
      EXPECT_TRUE(b.AppendNull().ok());
    } else {
      EXPECT_TRUE(b.Append(std::string(v)).ok());
    }
  }
  return b.Finish().ValueOrDie();
}

// Byte values of every Arrow type a writer may store them as (the Arrow schema in the file
// makes the reader give them back as that type), and Hugging Face image structs.
TEST(ParquetFile, ReadsEveryBinaryLikeType) {
  bagel::testing::TempDir dir;
  using arrow::field;
  const auto large =
      ArrayOf<arrow::LargeBinaryBuilder>(arrow::large_binary(), {"a", nullptr, "ccc"});
  const auto large_str =
      ArrayOf<arrow::LargeStringBuilder>(arrow::large_utf8(), {"x", "y", nullptr});
  const auto view =
      ArrayOf<arrow::StringViewBuilder>(arrow::utf8_view(), {"a long string value", "s", "t"});
  arrow::StringDictionaryBuilder dict_builder;
  for (const char* v : {"cat", "dog", "cat"}) ASSERT_TRUE(dict_builder.Append(v).ok());
  const auto dict = dict_builder.Finish().ValueOrDie();
  // {bytes, path}: bytes given; bytes null with a relative path; both null.
  { std::ofstream(dir.File("side.png"), std::ios::binary) << "PNGBYTES"; }
  const auto bytes = ArrayOf<arrow::BinaryBuilder>(arrow::binary(), {"inline", nullptr, nullptr});
  const auto paths = ArrayOf<arrow::StringBuilder>(arrow::utf8(), {nullptr, "side.png", nullptr});
  const auto image =
      arrow::StructArray::Make({bytes, paths}, std::vector<std::string>{"bytes", "path"})
          .ValueOrDie();
  const auto table = arrow::Table::Make(
      arrow::schema({field("large", large->type()), field("large_str", large_str->type()),
                     field("view", view->type()), field("dict", dict->type()),
                     field("image", image->type())}),
      {large, large_str, view, dict, image});
  const std::string path = dir.File("types.parquet");
  WriteTable(*table, path, 3);
  auto f = ParquetFile::Open(path);
  const auto col = [&](const char* name) { return f->ReadColumn(0, name); };
  EXPECT_EQ(*col("large").Scalar(0), "a");
  EXPECT_FALSE(col("large").Scalar(1).has_value());
  EXPECT_EQ(*col("large").Scalar(2), "ccc");
  EXPECT_EQ(*col("large_str").Scalar(1), "y");
  EXPECT_EQ(*col("view").Scalar(0), "a long string value");
  EXPECT_EQ(*col("dict").Scalar(2), "cat");
  EXPECT_EQ(*col("dict").Scalar(1), "dog");
  EXPECT_EQ(*col("image").Scalar(0), "inline");
  EXPECT_EQ(*col("image").Scalar(1), "PNGBYTES");
  EXPECT_FALSE(col("image").Scalar(2).has_value());
}

// Edit columns as large lists and as lists of image structs.
TEST(ParquetFile, ReadsEveryListType) {
  bagel::testing::TempDir dir;
  auto pool = arrow::default_memory_pool();
  auto values = std::make_shared<arrow::BinaryBuilder>(pool);
  arrow::LargeListBuilder large(pool, values);
  ASSERT_TRUE(large.Append().ok());
  ASSERT_TRUE(values->Append("p0").ok());
  ASSERT_TRUE(values->Append("p1").ok());
  ASSERT_TRUE(large.AppendNull().ok());
  const auto large_list = large.Finish().ValueOrDie();

  const auto bytes = ArrayOf<arrow::BinaryBuilder>(arrow::binary(), {"i0", "i1", "i2"});
  const auto paths = ArrayOf<arrow::StringBuilder>(arrow::utf8(), {nullptr, nullptr, nullptr});
  const auto structs =
      arrow::StructArray::Make({bytes, paths}, std::vector<std::string>{"bytes", "path"})
          .ValueOrDie();
  const int32_t offsets[] = {0, 1, 3};
  const auto offset_array = std::make_shared<arrow::Int32Array>(3, arrow::Buffer::Wrap(offsets, 3));
  const auto struct_list = arrow::ListArray::FromArrays(*offset_array, *structs).ValueOrDie();

  auto strings = std::make_shared<arrow::LargeStringBuilder>(pool);
  auto inner = std::make_shared<arrow::LargeListBuilder>(pool, strings);
  arrow::LargeListBuilder outer(pool, inner);
  ASSERT_TRUE(outer.Append().ok());
  ASSERT_TRUE(inner->Append().ok());
  ASSERT_TRUE(strings->Append("a").ok());
  ASSERT_TRUE(strings->Append("b").ok());
  ASSERT_TRUE(outer.Append().ok());
  ASSERT_TRUE(inner->Append().ok());
  ASSERT_TRUE(strings->Append("c").ok());
  ASSERT_TRUE(inner->Append().ok());
  const auto nested = outer.Finish().ValueOrDie();

  const auto table = arrow::Table::Make(arrow::schema({arrow::field("large", large_list->type()),
                                                       arrow::field("structs", struct_list->type()),
                                                       arrow::field("nested", nested->type())}),
                                        {large_list, struct_list, nested});
  const std::string path = dir.File("lists.parquet");
  WriteTable(*table, path, 2);
  auto f = ParquetFile::Open(path);
  const auto l = f->ReadColumn(0, "large").List(0);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(*l[1], "p1");
  EXPECT_TRUE(f->ReadColumn(0, "large").List(1).empty());
  const auto s = f->ReadColumn(0, "structs").List(1);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(*s[0], "i1");
  const auto n = f->ReadColumn(0, "nested").ListOfLists(1);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(*n[0][0], "c");
  EXPECT_TRUE(n[1].empty());
}

}  // namespace
}  // namespace bagel::data::parquet

namespace bagel::data::parquet {
namespace {

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// The files tests/data/write_parquet_variants.py wrote with pyarrow (every codec, encoding and
// byte type), polars, DuckDB, fastparquet and Hugging Face datasets: every value of every row
// reads back as written. tests/data/parquet_writers_test.sh runs this with the folder set.
TEST(ParquetWriters, EveryFileReadsBackAsWritten) {
  const char* dir = std::getenv("BAGEL_PARQUET_WRITERS_DIR");
  if (dir == nullptr) GTEST_SKIP() << "BAGEL_PARQUET_WRITERS_DIR not set";
  const auto manifest =
      nlohmann::json::parse(bagel::testing::ReadFileBytes(std::string(dir) + "/manifest.json"));
  ASSERT_GE(manifest["t2i"].size(), 27u);
  ASSERT_GE(manifest["edit"].size(), 5u);
  for (const auto& [path, rows] : manifest["t2i"].items()) {
    SCOPED_TRACE(path);
    auto f = ParquetFile::Open(path);
    ASSERT_EQ(f->num_rows(), static_cast<int64_t>(rows.size()));
    size_t row = 0;
    for (int rg = 0; rg < f->num_row_groups(); ++rg) {
      const ParquetColumn image = f->ReadColumn(rg, "image");
      const ParquetColumn captions = f->ReadColumn(rg, "captions");
      for (size_t r = 0; r < image.num_rows(); ++r, ++row) {
        ASSERT_TRUE(image.Scalar(r).has_value());
        EXPECT_EQ(Sha256Hex(*image.Scalar(r)), rows[row]["image_sha256"].get<std::string>());
        EXPECT_EQ(*captions.Scalar(r), rows[row]["captions"].get<std::string>());
      }
    }
    EXPECT_EQ(row, rows.size());
  }
  for (const auto& [path, rows] : manifest["edit"].items()) {
    SCOPED_TRACE(path);
    auto f = ParquetFile::Open(path);
    size_t row = 0;
    for (int rg = 0; rg < f->num_row_groups(); ++rg) {
      const ParquetColumn images = f->ReadColumn(rg, "image_list");
      const ParquetColumn instructions = f->ReadColumn(rg, "instruction_list");
      for (size_t r = 0; r < images.num_rows(); ++r, ++row) {
        const auto list = images.List(r);
        const auto& want = rows[row]["images_sha256"];
        ASSERT_EQ(list.size(), want.size());
        for (size_t k = 0; k < list.size(); ++k) {
          ASSERT_TRUE(list[k].has_value());
          EXPECT_EQ(Sha256Hex(*list[k]), want[k].get<std::string>());
        }
        const auto lists = instructions.ListOfLists(r);
        const auto& want_lists = rows[row]["instructions"];
        ASSERT_EQ(lists.size(), want_lists.size());
        for (size_t k = 0; k < lists.size(); ++k) {
          ASSERT_EQ(lists[k].size(), want_lists[k].size());
          for (size_t j = 0; j < lists[k].size(); ++j) {
            EXPECT_EQ(*lists[k][j], want_lists[k][j].get<std::string>());
          }
        }
      }
    }
    EXPECT_EQ(row, rows.size());
  }
}

}  // namespace
}  // namespace bagel::data::parquet
