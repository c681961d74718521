#include "worker/data/datasets/dataset_generator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "imaging/image_decode.h"
#include "testing/reference_data.h"
#include "testing/temp_dir.h"
#include "worker/data/parquet/parquet_file.h"

namespace bagel::data {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> Lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    out.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  return out;
}

TEST(DatasetGenerator, WritesTheOfficialLayouts) {
  const bagel::testing::TempDir dir;
  DatasetGeneratorOptions o;
  o.out_dir = dir.File("data");
  o.vlm_samples = 5;
  o.text_samples = 4;
  o.t2i_files = 2;
  o.t2i_rows_per_file = 5;
  o.edit_files = 1;
  o.edit_rows_per_file = 3;
  o.rows_per_group = 2;
  o.photos_dir = bagel::testing::ReferenceDir();  // its PNG and JPEG pictures as photographs
  const GeneratedDataset d = GenerateDatasets(o);

  const auto vlm = Lines(d.vlm_jsonl);
  ASSERT_EQ(vlm.size(), 5u);
  for (const auto& r : vlm) {
    const auto names = r["image"].is_array() ? r["image"] : nlohmann::json::array({r["image"]});
    for (const auto& n : names) {
      EXPECT_NO_THROW(
          imaging::DecodeImageFile((fs::path(d.vlm_images) / n.get<std::string>()).string()));
    }
    EXPECT_EQ(r["conversations"][1]["from"], "gpt");
  }
  EXPECT_EQ(Lines(d.text_jsonl).size(), 4u);
  auto t2i = parquet::ParquetFile::Open((fs::path(d.t2i_dir) / "part-00001.parquet").string());
  EXPECT_EQ(t2i->num_rows(), 5);
  EXPECT_EQ(t2i->num_row_groups(), 3);
  const auto captions = t2i->ReadColumn(0, "captions");
  EXPECT_TRUE(nlohmann::json::parse(*captions.Scalar(0)).contains("caption"));
  const auto info = nlohmann::json::parse(bagel::testing::ReadFileBytes(d.edit_parquet_info));
  ASSERT_EQ(info.size(), 1u);
  auto edit = parquet::ParquetFile::Open(info.begin().key());
  EXPECT_EQ(edit->num_row_groups(), info.begin().value()["num_row_groups"].get<int>());
  const auto images = edit->ReadColumn(0, "image_list");
  const auto instructions = edit->ReadColumn(0, "instruction_list");
  EXPECT_EQ(instructions.ListOfLists(0).size() + 1, images.List(0).size());
  EXPECT_TRUE(fs::exists(d.data_yaml));
}

TEST(DatasetGenerator, BadDataAddsOneRecordOfEachKind) {
  const bagel::testing::TempDir dir;
  DatasetGeneratorOptions o;
  o.out_dir = dir.File("data");
  o.vlm_samples = 2;
  o.text_samples = 1;
  o.t2i_files = 1;
  o.edit_files = 1;
  o.bad_data = true;
  const GeneratedDataset d = GenerateDatasets(o);
  const auto vlm = Lines(d.vlm_jsonl);
  ASSERT_EQ(vlm.size(), 6u);
  EXPECT_TRUE(vlm[2].is_discarded());  // the malformed line
  EXPECT_THROW(imaging::DecodeImageFile((fs::path(d.vlm_images) / "images/corrupt.jpg").string()),
               imaging::ImageDecodeError);
}

}  // namespace
}  // namespace bagel::data
