#include "worker/data/datasets/group_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/temp_dir.h"
#include "worker/data/parquet/parquet_file.h"
#include "worker/data/parquet/parquet_writer.h"
#include "worker/data/testing/generated_data.h"

namespace bagel::data {
namespace {

using testing::GeneratedData;

struct Fixture {
  explicit Fixture(const std::string& type, bool bad = false) {
    const GeneratedDataset& d = GeneratedData::Get(bad);
    config::DataGroupSpec s;
    s.name = type;
    s.type = type;
    s.vit_transform = {56, 28, 14, 1 << 20};
    s.vae_transform = {64, 32, 16, 1 << 20};
    if (type == "t2i") s.paths = {d.t2i_dir};
    if (type == "vlm_sft") {
      s.paths = {d.vlm_jsonl};
      s.image_root = d.vlm_images;
    }
    if (type == "edit") {
      s.paths = {d.edit_dir};
      s.parquet_info = d.edit_parquet_info;
    }
    catalog = BuildCatalog(s, 0, nullptr);
    for (size_t i = 0; i < catalog.items.size(); ++i) {
      units.push_back({static_cast<int64_t>(i), 0, 0, false});
    }
  }
  BuildContext Context() { return {&testing::SharedTokenizer(), &vit, &vae}; }
  GroupCatalog catalog;
  std::vector<WorkUnit> units;
  ImageTransform vit{ResizeRule{56, 28, 14, 1 << 20}};
  ImageTransform vae{ResizeRule{64, 32, 16, 1 << 20}};
};

// T2I: unit after unit, each file's rows in order across row groups, then the next pass.
TEST(GroupReader, ReadsT2iFilesRowByRowPassAfterPass) {
  Fixture f("t2i");
  GroupReader r(f.catalog, {f.units[2], f.units[0]}, f.Context(), 9);
  std::vector<SampleRef> refs;
  for (int i = 0; i < 17; ++i) {
    const ReadResult rr = r.Read();
    ASSERT_TRUE(rr.sample.has_value()) << rr.message;
    refs.push_back(rr.ref);
  }
  // 8 rows per file in row groups of 4.
  EXPECT_EQ(refs[0], (SampleRef{0, 0, 2, 0, 0}));
  EXPECT_EQ(refs[5], (SampleRef{0, 0, 2, 1, 1}));
  EXPECT_EQ(refs[8], (SampleRef{0, 0, 0, 0, 0}));
  EXPECT_EQ(refs[16], (SampleRef{0, 1, 2, 0, 0}));
}

// A record rebuilt from its reference, or read again after restoring a cursor, is the same.
TEST(GroupReader, RebuildAndRestoredCursorsGiveTheSameSamples) {
  Fixture f("edit");
  GroupReader a(f.catalog, f.units, f.Context(), 9);
  for (int i = 0; i < 3; ++i) a.Read();
  const ReaderCursor saved = ReaderCursor::FromJson(a.cursor().ToJson());
  const ReadResult next = a.Read();
  ASSERT_TRUE(next.sample.has_value()) << next.message;
  GroupReader b(f.catalog, f.units, f.Context(), 9);
  b.set_cursor(saved);
  const ReadResult again = b.Read();
  const ReadResult rebuilt = b.Rebuild(next.ref);
  for (const ReadResult* o : {&again, &rebuilt}) {
    ASSERT_TRUE(o->sample.has_value());
    EXPECT_EQ(o->ref, next.ref);
    EXPECT_EQ(o->sample->sample.text_ids, next.sample->sample.text_ids);
    ASSERT_EQ(o->sample->sample.images.size(), next.sample->sample.images.size());
    for (size_t k = 0; k < next.sample->sample.images.size(); ++k) {
      EXPECT_TRUE(o->sample->sample.images[k].equal(next.sample->sample.images[k]));
    }
  }
}

// Explicit units (a resharded pass) start at their row and may be single rows.
TEST(GroupReader, ExplicitUnitsStartAtTheirRow) {
  Fixture f("t2i");
  GroupReader r(f.catalog, f.units, f.Context(), 9);
  ReaderCursor c;
  c.units = std::vector<WorkUnit>{{3, 1, 2, true}, {4, 1, 3, false}};
  c.row_group = 1;
  c.row = 2;
  r.set_cursor(c);
  EXPECT_EQ(r.Read().ref, (SampleRef{0, 0, 3, 1, 2}));
  EXPECT_EQ(r.Read().ref, (SampleRef{0, 0, 4, 1, 3}));
  const SampleRef next = r.Read().ref;  // the explicit pass is over: pass 1, standard units
  EXPECT_EQ(next.pass, 1);
  EXPECT_EQ(next.item, 0);
}

TEST(GroupReader, BadRecordsComeBackWithAReasonAndTheirRow) {
  Fixture f("t2i", /*bad=*/true);
  // Find the unit of part-00000.parquet (its row 1 is corrupt).
  int64_t unit = -1;
  for (size_t i = 0; i < f.catalog.items.size(); ++i) {
    if (f.catalog.files[f.catalog.items[i].file].find("part-00000") != std::string::npos) {
      unit = static_cast<int64_t>(i);
    }
  }
  ASSERT_GE(unit, 0);
  GroupReader r(f.catalog, {{unit, 0, 0, false}}, f.Context(), 9);
  EXPECT_TRUE(r.Read().sample.has_value());
  const ReadResult bad = r.Read();
  EXPECT_FALSE(bad.sample.has_value());
  EXPECT_EQ(bad.skip_reason, kSkipBadImage);
  EXPECT_NE(bad.message.find("part-00000.parquet row group 0 row 1"), std::string::npos)
      << bad.message;
}

// A T2I file of `rows` rows in row groups of `per_group`, written at `path`; image cells "\0binK"
// (not pictures: every row is a bad_image skip, which is enough to follow the reader's cursor).
std::string WriteT2i(const std::string& path, int rows, int per_group) {
  std::vector<parquet::Row> data;
  for (int i = 0; i < rows; ++i) {
    parquet::Row r(2);
    r[0].scalar = std::string("\0bin", 4) + std::to_string(i);
    r[1].scalar = "{}";
    data.push_back(r);
  }
  parquet::WriteParquet(
      path, {{"image", parquet::ColumnKind::kBinary}, {"captions", parquet::ColumnKind::kString}},
      data, per_group);
  return path;
}

// A T2I catalog of the given files, one item per file, in order.
GroupCatalog T2iCatalog(const std::vector<std::string>& files) {
  GroupCatalog c;
  c.name = "crafted";
  c.kind = GroupKind::kT2i;
  c.spec.type = "t2i";
  c.files = files;
  for (size_t i = 0; i < files.size(); ++i) c.items.push_back({static_cast<int32_t>(i)});
  return c;
}

size_t OpenFds() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                           std::filesystem::directory_iterator()));
}

// A worker reading many files keeps only a couple open (thousands of files per rank would
// otherwise exhaust RLIMIT_NOFILE).
TEST(GroupReader, KeepsFewParquetFilesOpen) {
  const bagel::testing::TempDir dir;
  const std::string path = WriteT2i(dir.File("bagel_group_reader_fds.parquet"), 2, 2);
  const GroupCatalog catalog = T2iCatalog(std::vector<std::string>(12, path));
  std::vector<WorkUnit> units;
  for (int64_t i = 0; i < 12; ++i) units.push_back({i, 0, 0, false});
  const size_t before = OpenFds();
  GroupReader r(catalog, units, BuildContext{}, 9);
  for (int i = 0; i < 24; ++i) {
    const ReadResult rr = r.Read();
    EXPECT_EQ(rr.ref.item, i / 2);
    EXPECT_EQ(rr.skip_reason, kSkipBadImage) << rr.message;
  }
  EXPECT_LE(OpenFds(), before + 2);
}

// A row group whose column cannot be read is one counted skip; its other rows are not read (nor
// decoded again) and the next record is the next row group's first.
TEST(GroupReader, UnreadableRowGroupIsSkippedWhole) {
  const bagel::testing::TempDir dir;
  const std::string path = WriteT2i(dir.File("bagel_group_reader_bad_rg.parquet"), 6, 3);
  {  // The first image value's PLAIN length runs far past its page.
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = bytes.find(std::string("\0bin0", 5));
    ASSERT_NE(at, std::string::npos);
    ASSERT_GE(at, 4u);
    bytes.replace(at - 4, 4, std::string(4, '\xff'));
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  }
  const GroupCatalog catalog = T2iCatalog({path});
  GroupReader r(catalog, {{0, 0, 0, false}}, BuildContext{}, 9);
  const ReadResult bad = r.Read();
  EXPECT_EQ(bad.skip_reason, kSkipUnreadable) << bad.message;
  EXPECT_EQ(bad.ref, (SampleRef{0, 0, 0, 0, 0}));
  EXPECT_NE(bad.message.find("row group 0"), std::string::npos) << bad.message;
  const ReadResult next = r.Read();
  EXPECT_EQ(next.ref, (SampleRef{0, 0, 0, 1, 0}));
  EXPECT_EQ(next.skip_reason, kSkipBadImage) << next.message;
  for (int i = 0; i < 2; ++i) r.Read();
  // The pass is over and gave nothing usable: the error counts the row group once.
  try {
    r.Read();
    ADD_FAILURE() << "no error after a pass without a usable sample";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 bad_image, 1 unreadable_file"), std::string::npos)
        << e.what();
  }
}

TEST(GroupReader, CursorJsonRoundTrips) {
  ReaderCursor c;
  c.pass = 3;
  c.unit = 4;
  c.row_group = 1;
  c.row = 7;
  c.units = std::vector<WorkUnit>{{5, 1, 2, true}};
  const ReaderCursor d = ReaderCursor::FromJson(nlohmann::json::parse(c.ToJson().dump()));
  EXPECT_EQ(d.pass, 3);
  EXPECT_EQ(d.unit, 4);
  EXPECT_EQ(d.row_group, 1);
  EXPECT_EQ(d.row, 7);
  ASSERT_TRUE(d.units.has_value());
  EXPECT_EQ(*d.units, *c.units);
  EXPECT_THROW(ReaderCursor::FromJson(nlohmann::json::array()), c10::Error);
}

}  // namespace
}  // namespace bagel::data
