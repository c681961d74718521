#include "worker/data/parquet/parquet_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "worker/data/parquet/parquet_writer.h"
#include "worker/data/parquet/thrift_compact.h"
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

// ----- hand-made files: one column, one row group, chunk bytes given -------------------------

struct Crafted {
  bool list_of_lists = false;    // "instruction_list" list<list<string>> (max_rep 2, max_def 5);
                                 // otherwise an optional binary "image" (max_def 1)
  std::string chunk;             // page headers and pages
  int64_t num_values = 0;        // ColumnMetaData.num_values
  int64_t num_rows = 0;          // RowGroup.num_rows
  int64_t compressed_size = -1;  // -1: chunk.size()
};

void PutLe32(std::string& out, uint32_t v) {
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

// An RLE run of `count` copies of a one-byte level.
std::string RleRun(uint64_t count, int level) {
  return Varint(count << 1) + std::string(1, static_cast<char>(level));
}

// A v1 level block: its 4-byte length, then the runs.
std::string LevelBlock(const std::string& runs) {
  std::string out;
  PutLe32(out, static_cast<uint32_t>(runs.size()));
  return out + runs;
}

void Element(thrift::Encoder& e, const std::string& name, int repetition, int type, int children) {
  e.BeginListStruct();
  if (type >= 0) e.I32(1, type);
  if (repetition >= 0) e.I32(3, repetition);
  e.Binary(4, name);
  if (children >= 0) e.I32(5, children);
  e.EndStruct();
}

std::string WriteCrafted(const std::string& name, const Crafted& c) {
  std::string file = "PAR1" + c.chunk;
  const int64_t size =
      c.compressed_size >= 0 ? c.compressed_size : static_cast<int64_t>(c.chunk.size());
  thrift::Encoder m;
  m.I32(1, 1);
  std::vector<std::string> path;
  if (c.list_of_lists) {
    m.BeginStructList(2, 6);
    Element(m, "schema", -1, -1, 1);
    Element(m, "instruction_list", 1, -1, 1);
    Element(m, "list", 2, -1, 1);
    Element(m, "element", 1, -1, 1);
    Element(m, "list", 2, -1, 1);
    Element(m, "element", 1, 6, -1);
    path = {"instruction_list", "list", "element", "list", "element"};
  } else {
    m.BeginStructList(2, 2);
    Element(m, "schema", -1, -1, 1);
    Element(m, "image", 1, 6, -1);
    path = {"image"};
  }
  m.I64(3, c.num_rows);
  m.BeginStructList(4, 1);
  m.BeginListStruct();
  m.BeginStructList(1, 1);
  m.BeginListStruct();
  m.I64(2, 4);
  m.BeginStruct(3);
  m.I32(1, 6);
  m.I32List(2, {0, 3});
  m.BinaryList(3, path);
  m.I32(4, 0);
  m.I64(5, c.num_values);
  m.I64(6, size);
  m.I64(7, size);
  m.I64(9, 4);
  m.EndStruct();
  m.EndStruct();
  m.I64(2, size);
  m.I64(3, c.num_rows);
  m.EndStruct();
  m.End();
  file += m.bytes();
  PutLe32(file, static_cast<uint32_t>(m.bytes().size()));
  file += "PAR1";
  const std::string out = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(out, std::ios::binary | std::ios::trunc).write(file.data(), file.size());
  return out;
}

// A v1 data page (PLAIN values, RLE levels) claiming `n` values.
std::string PageV1(int64_t n, const std::string& body) {
  thrift::Encoder h;
  h.I32(1, 0);
  h.I32(2, static_cast<int32_t>(body.size()));
  h.I32(3, static_cast<int32_t>(body.size()));
  h.BeginStruct(5);
  h.I64(1, n);
  h.I32(2, 0);
  h.I32(3, 3);
  h.I32(4, 3);
  h.EndStruct();
  h.End();
  return h.bytes() + body;
}

// A v2 data page, uncompressed: repetition levels, definition levels, then PLAIN values.
std::string PageV2(int64_t n, const std::string& rep, const std::string& def,
                   const std::string& values) {
  const std::string body = rep + def + values;
  thrift::Encoder h;
  h.I32(1, 3);
  h.I32(2, static_cast<int32_t>(body.size()));
  h.I32(3, static_cast<int32_t>(body.size()));
  h.BeginStruct(8);
  h.I64(1, n);
  h.I32(2, 0);
  h.I64(3, n);
  h.I32(4, 0);
  h.I32(5, static_cast<int32_t>(def.size()));
  h.I32(6, static_cast<int32_t>(rep.size()));
  h.Bool(7, false);
  h.EndStruct();
  h.End();
  return h.bytes() + body;
}

// A bit-packed run whose byte count (groups * bit width 3) wraps around 2^64 to 2 bytes: the
// decoder must refuse it rather than read the bytes after the level block.
TEST(ParquetFile, BitPackedRunLengthCannotWrap) {
  const uint64_t groups = 6148914691236517206ull;  // * 3 = 2^64 + 2
  Crafted c;
  c.list_of_lists = true;  // definition levels of 3 bits
  c.num_values = c.num_rows = 16;
  c.chunk = PageV2(16, RleRun(16, 0), Varint((groups << 1) | 1) + std::string(2, '\0'),
                   std::string(4, '\0'));
  const std::string path = WriteCrafted("bagel_crafted_wrap.parquet", c);
  try {
    ParquetFile::Open(path)->ReadColumn(0, "instruction_list");
    ADD_FAILURE() << "a wrapped bit-packed run was read";
  } catch (const ParquetError& e) {
    EXPECT_NE(std::string(e.what()).find("bit-packed run past the data"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove(path);
}

// A repetition level 2 (a new inner element) in a row whose outer list is null.
TEST(ParquetFile, InnerElementWithoutOuterElementIsAnError) {
  Crafted c;
  c.list_of_lists = true;
  c.num_values = 2;
  c.num_rows = 1;
  std::string value;
  PutLe32(value, 1);
  value += "x";
  c.chunk = PageV1(
      2, LevelBlock(RleRun(1, 0) + RleRun(1, 2)) + LevelBlock(RleRun(1, 0) + RleRun(1, 5)) + value);
  const std::string path = WriteCrafted("bagel_crafted_rep2.parquet", c);
  const ColumnLevels col = ParquetFile::Open(path)->ReadColumn(0, "instruction_list");
  ASSERT_EQ(col.num_rows(), 1u);
  try {
    col.ListOfLists(0);
    ADD_FAILURE() << "no error";
  } catch (const ParquetError& e) {
    EXPECT_NE(std::string(e.what()).find("without an outer element"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove(path);
}

// Every corruption of a page header or count is a ParquetError naming the column, never another
// exception (which would stop the trainer) or an enormous allocation.
TEST(ParquetFile, CorruptPagesAreParquetErrors) {
  struct Case {
    const char* name;
    Crafted crafted;
  };
  std::vector<Case> cases;
  {  // data_page_header is an integer, not a struct (a thrift type mismatch)
    thrift::Encoder h;
    h.I32(1, 0);
    h.I32(2, 0);
    h.I32(3, 0);
    h.I32(5, 7);
    h.End();
    cases.push_back({"header_type", {false, h.bytes(), 1, 1, -1}});
  }
  {  // a required header field missing
    thrift::Encoder h;
    h.I32(1, 0);
    h.End();
    cases.push_back({"header_missing", {false, h.bytes(), 1, 1, -1}});
  }
  // A negative page value count.
  cases.push_back({"negative_n", {false, PageV2(-5, "", "", ""), 1, 1, -1}});
  // A page claiming 2^36 values in a chunk of one.
  cases.push_back(
      {"page_n",
       {false, PageV1(int64_t{1} << 36, LevelBlock(RleRun(uint64_t{1} << 36, 0))), 1, 1, -1}});
  // A chunk and row group claiming 2^36 values, with a tiny page to match.
  cases.push_back({"chunk_n",
                   {false, PageV1(int64_t{1} << 36, LevelBlock(RleRun(uint64_t{1} << 36, 0))),
                    int64_t{1} << 36, int64_t{1} << 36, -1}});
  // A non-repeated column whose chunk has more values than the row group has rows.
  cases.push_back({"chunk_rows", {false, PageV1(3, LevelBlock(RleRun(3, 0))), 3, 1, -1}});
  // start + compressed_size overflows int64.
  cases.push_back({"chunk_size",
                   {false, PageV1(1, LevelBlock(RleRun(1, 0))), 1, 1,
                    std::numeric_limits<int64_t>::max() - 2}});
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const std::string path =
        WriteCrafted(std::string("bagel_crafted_") + k.name + ".parquet", k.crafted);
    try {
      ParquetFile::Open(path)->ReadColumn(0, "image");
      ADD_FAILURE() << "no error";
    } catch (const ParquetError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    std::filesystem::remove(path);
  }
}

// Booleans in a list or map take one byte each (1 true, 2 false).
TEST(ThriftCompact, BoolsInContainersTakeOneByteEach) {
  // struct { 1: map<bool, bool> of 3 entries }
  const std::string map("\x1b\x03\x11\x01\x02\x01\x02\x01\x01\x00", 10);
  size_t off = 0;
  const thrift::Struct s = thrift::DecodeStruct(map, &off);
  EXPECT_EQ(off, map.size());
  std::vector<int64_t> got;
  for (const thrift::Value& v : thrift::Get(s, 1, "map").list) got.push_back(v.i);
  EXPECT_EQ(got, (std::vector<int64_t>{1, 0, 1, 0, 1, 1}));
  // struct { 1: list of 4 maps, each claiming 2 bool entries and giving no bytes for them }:
  // refused, not decoded as 16 values from 9 bytes.
  const std::string free_entries("\x19\x4b\x02\x11\x02\x11\x02\x11\x02\x11\x00", 11);
  off = 0;
  EXPECT_THROW(thrift::DecodeStruct(free_entries, &off), thrift::ThriftError);
}

TEST(ThriftCompact, DecodedValuesAreBounded) {
  // struct { 1: list<byte> of 100 }
  std::string list("\x19\xf3\x64", 3);
  list += std::string(100, '\x07');
  list += '\0';
  size_t off = 0;
  EXPECT_EQ(thrift::DecodeStruct(list, &off).at(1).list.size(), 100u);
  off = 0;
  EXPECT_THROW(thrift::DecodeStruct(list, &off, 50), thrift::ThriftError);
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
