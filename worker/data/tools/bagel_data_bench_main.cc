// bagel-data-bench: throughput of the training data stream (docs/DATA.md) on generated datasets
// in the official formats -- a VLM mix (VLM SFT + text) or a T2I mix (T2I + edit) -- with the
// official image transforms: batches/s and tokens/s after a warm-up, one line of JSON.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "worker/data/datasets/dataset_generator.h"
#include "worker/data/datasets/training_data_stream.h"

int main(int argc, char** argv) {
  CLI::App app{"Throughput of the data pipeline on generated datasets"};
  std::string mix = "vlm", tokenizer = "tests/golden/tokenizer", work;
  int64_t batches = 20, warmup = 3, expected = 2048, side = 512, threads = 2;
  app.add_option("--mix", mix, "vlm (VLM SFT + text) or t2i (T2I + edit)")
      ->check(CLI::IsMember({"vlm", "t2i"}));
  app.add_option("--tokenizer", tokenizer, "tokenizer directory");
  app.add_option("--batches", batches, "timed batches");
  app.add_option("--warmup", warmup, "untimed batches first");
  app.add_option("--expected-num-tokens", expected, "tokens per packed sequence");
  app.add_option("--side", side, "largest picture side of the generated data");
  app.add_option("--loader-threads", threads, "data.loader_threads");
  app.add_option("--work", work, "where the datasets go (default: a temporary folder)");
  CLI11_PARSE(app, argc, argv);
  try {
    namespace fs = std::filesystem;
    const fs::path dir =
        work.empty() ? fs::temp_directory_path() / "bagel_data_bench" : fs::path(work);
    bagel::data::DatasetGeneratorOptions g;
    g.out_dir = dir.string();
    g.min_side = side / 2;
    g.max_side = side;
    g.vlm_samples = 64;
    g.text_samples = 64;
    g.t2i_files = 8;
    g.t2i_rows_per_file = 16;
    g.edit_files = 4;
    g.edit_rows_per_file = 16;
    const auto ds = bagel::data::GenerateDatasets(g);

    bagel::data::DataStreamOptions o;
    o.tokenizer_dir = tokenizer;
    o.packer.max_latent_size = 64;  // BAGEL-7B's, for the default 1024-pixel VAE transform
    o.data.expected_num_tokens = expected;
    o.data.max_num_tokens = expected + expected / 8;
    o.data.max_num_tokens_per_sample = expected;
    o.data.prefer_buffer_before = expected / 2;
    o.data.loader_threads = threads;
    o.data.cfg_dropout = {0.1, 0.3, 0.3};
    auto group = [&](const std::string& type, double weight) {
      bagel::config::DataGroupSpec s;
      s.name = type;
      s.type = type;
      s.weight = weight;
      s.num_used_data = 64;  // parquet: files repeat, so every loader worker has some
      if (type == "vlm_sft") {
        s.paths = {ds.vlm_jsonl};
        s.image_root = ds.vlm_images;
      } else if (type == "text") {
        s.paths = {ds.text_jsonl};
      } else if (type == "t2i") {
        s.paths = {ds.t2i_dir};
      } else {
        s.paths = {ds.edit_dir};
        s.parquet_info = ds.edit_parquet_info;
      }
      return s;
    };
    if (mix == "vlm") {
      o.data.groups = {group("vlm_sft", 3), group("text", 1)};
    } else {
      o.data.groups = {group("t2i", 3), group("edit", 1)};
    }
    bagel::data::TrainingDataStream stream(o);
    for (int64_t i = 0; i < warmup; ++i) stream.Next();
    const auto t0 = std::chrono::steady_clock::now();
    int64_t tokens = 0, samples = 0;
    for (int64_t i = 0; i < batches; ++i) {
      const auto b = stream.Next();
      tokens += b.packed.batch.sequence_length;
      samples += static_cast<int64_t>(b.samples.size());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << nlohmann::json{{"mix", mix},
                                {"loader_threads", threads},
                                {"expected_num_tokens", expected},
                                {"batches", batches},
                                {"samples", samples},
                                {"seconds", s},
                                {"batches_per_s", batches / s},
                                {"tokens_per_s", tokens / s},
                                {"samples_per_s", samples / s}}
                     .dump()
              << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bagel-data-bench: " << e.what() << "\n";
    return 1;
  }
}
