// Writes small datasets in the official on-disk formats (BAGEL.md §3.1) for the tests and the
// demo: a VLM SFT JSONL set with its image folder (one or two images per sample, <image>
// placeholders), a text-only JSONL set, T2I parquet files (image bytes + a JSON captions dict)
// and edit parquet files (image_list + instruction_list) with their parquet_info JSON, plus a
// data.yaml with the job spec's data groups for them.
//
// Pictures are a coloured shape (square or circle, at one of three places) drawn over a random
// crop of a real photograph from `photos_dir` when given (scikit-image's sample photographs are
// recognised and named in the captions; otherwise every *.jpg / *.png there is used), or over a
// coloured background; the captions, questions and edit instructions describe them, so a model
// has something to learn. Everything is a pure
// function of the seed. With `bad_data`, each set also gets one record of each kind of bad data
// (a malformed line, a missing and a corrupt image, an over-long sample, a corrupt image in a
// parquet row) for the bad-data tests.
#pragma once

#include <cstdint>
#include <string>

namespace bagel::data {

struct DatasetGeneratorOptions {
  std::string out_dir;
  int64_t vlm_samples = 24;
  int64_t text_samples = 24;
  int64_t t2i_files = 6;
  int64_t t2i_rows_per_file = 8;
  int64_t edit_files = 3;
  int64_t edit_rows_per_file = 8;
  int64_t rows_per_group = 4;
  int64_t min_side = 48;  // picture sides are drawn in [min_side, max_side]
  int64_t max_side = 96;
  std::string photos_dir;
  bool bad_data = false;
  uint64_t seed = 1;
};

struct GeneratedDataset {
  std::string vlm_jsonl, vlm_images, text_jsonl, t2i_dir, edit_dir, edit_parquet_info, data_yaml;
};

GeneratedDataset GenerateDatasets(const DatasetGeneratorOptions& options);

// A folder with real photographs, or "": $BAGEL_PHOTOS_DIR, BUILD_DIR/photos (what
// scripts/fetch_photos.sh gathers from Debian's python3-skimage), then an installed
// python3-skimage's data folder.
std::string FindPhotographs(const std::string& build_dir);

}  // namespace bagel::data
