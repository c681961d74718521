#include "worker/trainer/sharded_export.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "model/config/presets.h"
#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"
#include "testing/temp_dir.h"

namespace bagel::train {
namespace {

namespace fs = std::filesystem;

// A model of many equal layers, so that one unit is a small part of it (tiny's ViT and a small
// vocabulary keep the root unit small too).
std::shared_ptr<BagelForUnifiedMultimodal> ManyLayers() {
  BagelConfig c = PresetConfig("tiny");
  c.llm.hidden_size = 512;
  c.llm.intermediate_size = 2048;
  c.llm.num_hidden_layers = 12;
  c.llm.num_attention_heads = 4;
  c.llm.num_key_value_heads = 2;
  PrepareConfigForStage(c, 1);
  auto m = std::make_shared<BagelForUnifiedMultimodal>(c, at::TensorOptions().dtype(at::kFloat));
  m->InitializeWeights(3);
  return m;
}

int64_t PeakResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

int64_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// Rank 0 holds one gathered unit and a write buffer at a time: its peak resident memory during
// the export stays near the largest unit (float32) plus its largest tensor converted, plus the
// buffer, while the model's weights and EMA together (what a gathered export held) are many
// times that.
TEST(ShardedExportTest, TheExportStreamsUnitByUnitInBoundedHostMemory) {
  // What the code holds, not what glibc keeps cached: large blocks are mapped and unmapped
  // (without this, its dynamic mmap threshold keeps freed units in the heap).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
  const bagel::testing::TempDir tmp;
  auto model = ManyLayers();
  const auto reference = io::CheckpointStateDict(*model);
  auto world = dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(60));
  fsdp::FsdpEngine engine(*model, world, fsdp::FsdpOptions{});
  engine.InitFromModel();
  int64_t largest_unit = 0, largest_tensor = 0, model_bytes = 0;
  for (const auto& unit : engine.units()) {
    largest_unit = std::max(largest_unit, unit->padded_numel() * 4);
    for (const auto& s : unit->slots()) largest_tensor = std::max(largest_tensor, s.numel * 2);
    model_bytes += unit->numel() * 4;
  }
  ShardedExportOptions o;
  o.dir = (tmp.path() / "hf").string();
  o.model_weights = true;
  o.write_buffer_bytes = 1 << 20;
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM starts again from VmRSS
  const int64_t before = ResidentBytes();
  ExportShardedHf(engine, model->config(), o);
  const int64_t grew = PeakResidentBytes() - before;
  // One unit and one converted tensor, plus the buffer and 16 MiB for everything else.
  const int64_t bound = largest_unit + largest_tensor + (1 << 20) + (16 << 20);
  EXPECT_LE(grew, bound) << "largest unit " << largest_unit << ", largest tensor "
                         << largest_tensor;
  ASSERT_GT(2 * model_bytes, 4 * bound) << "the test model is too small to show streaming";

  // The files hold the model in bf16, loadable by name.
  for (const char* file : {"ema.safetensors", "model.safetensors"}) {
    auto f = io::SafetensorsFile::Open((tmp.path() / "hf" / file).string());
    EXPECT_EQ(f->entries().size(), reference.size());
    for (const auto& [key, value] : reference) {
      const at::Tensor got = f->Read(key);
      EXPECT_EQ(got.scalar_type(), at::kBFloat16) << key;
      EXPECT_TRUE(got.equal(value.to(at::kBFloat16))) << key;
    }
  }
  EXPECT_TRUE(fs::exists(tmp.path() / "hf" / "config.json"));
}

// fp32 on request, and Hugging Face's shards with an index beside the single file.
TEST(ShardedExportTest, Fp32AndShardsWithAnIndex) {
  const bagel::testing::TempDir tmp;
  auto model = ManyLayers();
  const auto reference = io::CheckpointStateDict(*model);
  auto world = dist::Communicator::Create(dist::DistEnv{}, at::kCPU, std::chrono::seconds(60));
  fsdp::FsdpEngine engine(*model, world, fsdp::FsdpOptions{});
  engine.InitFromModel();
  ShardedExportOptions o;
  o.dir = (tmp.path() / "hf").string();
  o.dtype = at::kFloat;
  o.shard_gib = 40.0 / 1024;  // 40 MiB shards
  ExportShardedHf(engine, model->config(), o);
  const fs::path hf = tmp.path() / "hf";
  EXPECT_FALSE(fs::exists(hf / "model.safetensors"));  // only when asked
  std::ifstream in(hf / "ema.safetensors.index.json");
  const auto index = nlohmann::json::parse(in);
  const auto& map = index.at("weight_map");
  EXPECT_EQ(map.size(), reference.size());
  std::set<std::string> shard_files;
  int64_t total = 0;
  for (const auto& [key, value] : reference) {
    const std::string file = map.at(key).get<std::string>();
    shard_files.insert(file);
    const at::Tensor got = io::SafetensorsFile::Open((hf / file).string())->Read(key);
    EXPECT_TRUE(got.equal(value)) << key;
    total += value.numel() * 4;
  }
  EXPECT_GT(shard_files.size(), 2u);
  EXPECT_EQ(index.at("metadata").at("total_size").get<int64_t>(), total);
  for (const std::string& f : shard_files) {
    EXPECT_NE(f.find("ema-0000"), std::string::npos) << f;
    EXPECT_LE(fs::file_size(hf / f), static_cast<uintmax_t>(41 << 20)) << f;
  }
  auto single = io::SafetensorsFile::Open((hf / "ema.safetensors").string());
  EXPECT_TRUE(single->Read("language_model.lm_head.weight")
                  .equal(reference.at("language_model.lm_head.weight")));
}

}  // namespace
}  // namespace bagel::train
