#include "worker/trainer/checkpoint_values.h"

#include <c10/util/Exception.h>

#include <map>
#include <set>

#include "model/bagel/position_embedding.h"
#include "model/bagel/weight_init.h"
#include "model/lora/lora_adapters.h"
#include "model/siglip/patch_embedding.h"

namespace bagel::train {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

CheckpointValues ValuesFromCheckpoint(std::shared_ptr<io::SafetensorsFile> file,
                                      const BagelForUnifiedMultimodal& model, bool strict,
                                      uint64_t init_seed) {
  const BagelConfig& config = model.config();
  const int stage = config.stage;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& item : model.named_parameters()) {
    shapes[io::NativeKeyToCheckpoint(item.key())] = item.value().sizes().vec();
  }
  CheckpointValues out;
  io::LoadReport& report = out.report;
  std::set<std::string> in_file;
  for (const auto& [key, entry] : file->entries()) {
    const auto kind = io::ClassifyCheckpointKey(key);
    const bool gen_only =
        kind == io::CheckpointKeyKind::kGeneration || key == "latent_pos_embed.pos_embed";
    if (kind == io::CheckpointKeyKind::kVae || (gen_only && stage == 1)) {
      report.dropped.push_back(key);
      continue;
    }
    auto it = shapes.find(key);
    if (kind == io::CheckpointKeyKind::kUnknown || it == shapes.end()) {
      report.unexpected.push_back(key);
      continue;
    }
    const auto& want = it->second;
    const bool conv =
        EndsWith(key, "patch_embedding.weight") && entry.shape.size() == 4 && want.size() == 2;
    if (conv) {
      TORCH_CHECK(
          entry.shape[0] == want[0] && entry.shape[1] * entry.shape[2] * entry.shape[3] == want[1],
          file->path(), ": tensor '", key,
          "' has a Conv2d shape that does not flatten to the model's");
      report.converted.push_back(key);
    } else {
      TORCH_CHECK(entry.shape == want, file->path(), ": tensor '", key, "' has shape ",
                  at::IntArrayRef(entry.shape), " but the model expects ", at::IntArrayRef(want));
    }
    in_file.insert(key);
    if (kind == io::CheckpointKeyKind::kPositionTable) {
      report.recomputed.push_back(key);
    } else {
      report.loaded.push_back(key);
    }
  }
  for (const auto& [key, shape] : shapes) {
    // LoRA adapters are never in a base checkpoint: they start from PEFT's initialisation.
    if (in_file.count(key) || EndsWith(key, "pos_embed") || lora::IsLoraKey(key)) continue;
    report.missing.push_back(key);
  }
  if (strict) {
    TORCH_CHECK(report.unexpected.empty() && report.missing.empty(), file->path(),
                ": strict load (stage ", stage, ") failed: ", report.unexpected.size(),
                " unexpected and ", report.missing.size(), " missing key(s)",
                report.unexpected.empty() ? "" : ", first unexpected: " + report.unexpected[0],
                report.missing.empty() ? "" : ", first missing: " + report.missing[0]);
  }
  // Missing keys: the generation expert copies its understanding twin, the rest is initialised.
  std::map<std::string, std::string> twin_of;
  for (const std::string& key : report.missing) {
    const size_t at_gen = key.find("_moe_gen");
    const std::string twin =
        at_gen == std::string::npos ? "" : key.substr(0, at_gen) + key.substr(at_gen + 8);
    if (!twin.empty() && in_file.count(twin)) {
      twin_of[key] = twin;
      report.initialized.push_back(key + " (copied from " + twin + ")");
    } else {
      report.initialized.push_back(key);
    }
  }
  out.value = [file, config, shapes, twin_of, init_seed](const fsdp::Slot& slot) -> at::Tensor {
    const std::string& key = slot.name;
    if (lora::IsLoraKey(key)) return lora::LoraInitialValue(key, slot.shape, init_seed);
    if (key == "vit_pos_embed.pos_embed")
      return SinCos2dTable(config.vit_max_num_patch_per_side, config.llm.hidden_size);
    if (key == "latent_pos_embed.pos_embed")
      return SinCos2dTable(config.max_latent_size, config.llm.hidden_size);
    auto twin = twin_of.find(key);
    const std::string& source = twin != twin_of.end() ? twin->second : key;
    if (file->Contains(source)) {
      at::Tensor t = file->View(source);
      if (t.dim() == 4 && slot.shape.size() == 2) t = ConvPatchWeightToLinear(t);
      return t;
    }
    const std::string weight = key.substr(0, key.rfind('.')) + ".weight";
    auto w = shapes.find(weight);
    const int64_t fan_in = (w != shapes.end() && w->second.size() == 2) ? w->second[1] : 1;
    return InitialValueForKey(key, slot.shape, config, init_seed, fan_in);
  };
  return out;
}

}  // namespace bagel::train
