#include "worker/trainer/sharded_export.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "model/io/safetensors.h"
#include "model/io/safetensors_stream_writer.h"

namespace bagel::train {
namespace {

namespace fs = std::filesystem;

// What gets written, in unit order: every parameter but the LoRA adapters (merged instead).
std::vector<io::TensorLayout> ExportLayout(const fsdp::FsdpEngine& engine, at::ScalarType dtype) {
  std::vector<io::TensorLayout> layout;
  for (const auto& unit : engine.units()) {
    for (const fsdp::Slot& s : unit->slots()) {
      if (!lora::IsLoraKey(s.name)) layout.push_back({s.name, dtype, s.shape});
    }
  }
  return layout;
}

// One weights file (and, when asked, its shards and index), written tensor by tensor.
class WeightsFileWriter {
 public:
  WeightsFileWriter(const fs::path& dir, const std::string& base,
                    std::vector<io::TensorLayout> layout, const ShardedExportOptions& o)
      : dir_(dir), base_(base), buffer_(o.write_buffer_bytes) {
    const std::map<std::string, std::string> meta = {{"format", "pt"}};
    single_ = std::make_unique<io::SafetensorsStreamWriter>(
        (dir / (base + ".safetensors")).string(), layout, meta, io::ByteObserver{}, buffer_);
    if (o.shard_gib <= 0) return;
    const double limit = o.shard_gib * static_cast<double>(1ull << 30);
    double size = 0;
    for (const io::TensorLayout& t : layout) {
      total_bytes_ += t.Bytes();
      if (shards_.empty() || (size > 0 && size + static_cast<double>(t.Bytes()) > limit)) {
        shards_.emplace_back();
        size = 0;
      }
      shards_.back().push_back(t);
      size += static_cast<double>(t.Bytes());
    }
    for (size_t i = 0; i < shards_.size(); ++i) {
      for (const auto& t : shards_[i]) weight_map_[t.name] = ShardName(i);
    }
  }

  void Write(const std::string& name, const at::Tensor& t) {
    single_->Write(name, t);
    if (shards_.empty()) return;
    if (!shard_) {
      const std::map<std::string, std::string> meta = {{"format", "pt"}};
      shard_ = std::make_unique<io::SafetensorsStreamWriter>(
          (dir_ / ShardName(next_shard_)).string(), shards_[next_shard_], meta, io::ByteObserver{},
          buffer_);
    }
    shard_->Write(name, t);
    if (shard_->remaining() == 0) {
      shard_->Finish();
      shard_.reset();
      ++next_shard_;
    }
  }

  void Finish() {
    single_->Finish();
    if (shards_.empty()) return;
    TORCH_INTERNAL_ASSERT(!shard_ && next_shard_ == shards_.size(), "export shards unfinished");
    const nlohmann::json index = {{"metadata", {{"total_size", total_bytes_}}},
                                  {"weight_map", weight_map_}};
    std::ofstream((dir_ / (base_ + ".safetensors.index.json")).string()) << index.dump(2) << "\n";
  }

 private:
  std::string ShardName(size_t i) const {
    char name[64];
    std::snprintf(name, sizeof(name), "-%05zu-of-%05zu.safetensors", i + 1, shards_.size());
    return base_ + name;
  }

  fs::path dir_;
  std::string base_;
  size_t buffer_;
  std::unique_ptr<io::SafetensorsStreamWriter> single_, shard_;
  std::vector<std::vector<io::TensorLayout>> shards_;
  size_t next_shard_ = 0;
  int64_t total_bytes_ = 0;
  std::map<std::string, std::string> weight_map_;
};

// LoRA: W + (alpha / r) B A for every adapted module of one gathered unit, in float32.
void MergeUnitAdapters(std::map<std::string, at::Tensor>& unit, double scale) {
  for (auto& [name, a] : unit) {
    if (name.size() < 7 || name.compare(name.size() - 7, 7, ".lora_A") != 0) continue;
    const std::string module = name.substr(0, name.size() - 7);
    at::Tensor& w = unit.at(module + ".weight");
    const at::Tensor& b = unit.at(module + ".lora_B");
    w = w.to(at::kFloat) + at::matmul(b.to(at::kFloat), a.to(at::kFloat)) * scale;
  }
}

// Gathers the model unit by unit (EMA or weights) and writes it; rank 0 only writes, keeping
// the adapters (small) for the PEFT file when `adapters` is given.
void WriteWeights(fsdp::FsdpEngine& engine, bool ema, WeightsFileWriter* out,
                  const ShardedExportOptions& o, std::map<std::string, at::Tensor>* adapters) {
  const bool writer = out != nullptr;
  for (size_t u = 0; u < engine.units().size(); ++u) {
    std::map<std::string, at::Tensor> unit = engine.GatherUnit(u, ema, /*keep=*/writer);
    if (!writer) continue;
    if (o.lora) {
      for (const auto& [name, t] : unit) {
        if (adapters && lora::IsLoraKey(name)) (*adapters)[name] = t.to(at::kCPU, at::kFloat);
      }
      MergeUnitAdapters(unit, o.lora->alpha / static_cast<double>(o.lora->rank));
    }
    for (const fsdp::Slot& s : engine.units()[u]->slots()) {
      if (lora::IsLoraKey(s.name)) continue;
      out->Write(s.name, unit.at(s.name).to(o.dtype));  // one converted tensor at a time
    }
  }
}

}  // namespace

void ExportShardedHf(fsdp::FsdpEngine& engine, const BagelConfig& config,
                     const ShardedExportOptions& o) {
  TORCH_CHECK(o.dtype == at::kBFloat16 || o.dtype == at::kFloat,
              "checkpoint.export_dtype must be bf16 or fp32");
  const bool writer = engine.world().rank() == 0;  // the others only take part in the gathers
  const fs::path target(o.dir);
  const fs::path staging = target.string() + ".staging";
  if (writer) {
    fs::remove_all(staging);
    fs::create_directories(staging);
  }
  std::map<std::string, at::Tensor> adapters;
  struct Pass {
    std::string base;
    bool ema;
  };
  std::vector<Pass> passes = {{"ema", o.ema}};
  if (o.model_weights) passes.push_back({"model", false});
  for (const Pass& pass : passes) {
    std::unique_ptr<WeightsFileWriter> out;
    if (writer) {
      out =
          std::make_unique<WeightsFileWriter>(staging, pass.base, ExportLayout(engine, o.dtype), o);
    }
    // The adapters beside ema.safetensors are the ones merged into it.
    WriteWeights(engine, pass.ema, out.get(), o, &pass == &passes.front() ? &adapters : nullptr);
    if (writer) out->Finish();
  }
  if (writer) {
    if (o.lora) {
      lora::WritePeftAdapter((staging / "adapter").string(), adapters, *o.lora, o.lora_modules,
                             o.lora_base);
    }
    WriteBagelConfig(config, staging.string());
    if (!o.vae_path.empty()) fs::copy_file(o.vae_path, staging / "ae.safetensors");
    if (!o.tokenizer_from.empty()) {
      for (const char* name :
           {"vocab.json", "merges.txt", "added_tokens.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
        if (fs::exists(fs::path(o.tokenizer_from) / name))
          fs::copy_file(fs::path(o.tokenizer_from) / name, staging / name);
      }
    }
    fs::remove_all(target);
    fs::rename(staging, target);
  }
  // Writing a large model can outlast the collective timeout.
  engine.world().WaitForRankZero("hf-export");
}

}  // namespace bagel::train
