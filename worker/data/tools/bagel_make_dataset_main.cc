// bagel-make-dataset: writes small datasets in the official BAGEL formats (VLM SFT JSONL with
// images, text JSONL, T2I and edit parquet with parquet_info) and a data.yaml of job-spec data
// groups for them (docs/DATA.md). Exit 0 on success; on an error one line, exit 1.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "worker/data/datasets/dataset_generator.h"

int main(int argc, char** argv) {
  CLI::App app{"Write small BAGEL datasets (VLM SFT, text, T2I, edit) for tests and demos"};
  bagel::data::DatasetGeneratorOptions o;
  app.add_option("--out", o.out_dir, "output directory")->required();
  app.add_option("--vlm-samples", o.vlm_samples, "VLM SFT lines");
  app.add_option("--text-samples", o.text_samples, "text-only lines");
  app.add_option("--t2i-files", o.t2i_files, "T2I parquet files");
  app.add_option("--t2i-rows", o.t2i_rows_per_file, "rows per T2I file");
  app.add_option("--edit-files", o.edit_files, "edit parquet files");
  app.add_option("--edit-rows", o.edit_rows_per_file, "rows per edit file");
  app.add_option("--rows-per-group", o.rows_per_group, "parquet row group size");
  app.add_option("--min-side", o.min_side, "smallest picture side");
  app.add_option("--max-side", o.max_side, "largest picture side");
  app.add_option("--photos", o.photos_dir,
                 "a folder of *.jpg / *.png photographs to draw on, or 'auto': "
                 "$BAGEL_PHOTOS_DIR, build/photos (scripts/fetch_photos.sh) or an installed "
                 "python3-skimage; generated backgrounds when none is found");
  app.add_flag("--bad-data", o.bad_data, "add one record of each kind of bad data");
  app.add_option("--seed", o.seed, "seed");
  CLI11_PARSE(app, argc, argv);
  try {
    if (o.photos_dir == "auto") {
      // build/release/bin/bagel-make-dataset -> build/
      const auto build_dir =
          std::filesystem::weakly_canonical(std::filesystem::path(argv[0])).parent_path() / ".." /
          "..";
      o.photos_dir = bagel::data::FindPhotographs(build_dir.string());
      std::cout << "photographs: "
                << (o.photos_dir.empty() ? "none found, generated backgrounds" : o.photos_dir)
                << "\n";
    }
    const auto out = bagel::data::GenerateDatasets(o);
    std::cout << "wrote " << o.out_dir << " (data groups: " << out.data_yaml << ")\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bagel-make-dataset: " << e.what() << "\n";
    return 1;
  }
}
