#include "model/bagel/hf_export.h"

#include <c10/util/Exception.h>

#include <filesystem>

#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"

namespace bagel {

void ExportHfCheckpoint(const BagelForUnifiedMultimodal& model, const std::string& dir,
                        const HfExportOptions& options) {
  namespace fs = std::filesystem;
  const fs::path target(dir);
  const fs::path staging = target.string() + ".staging";
  fs::remove_all(staging);
  fs::create_directories(staging);
  WriteBagelConfig(model.config(), staging.string());
  auto convert = [&](std::map<std::string, at::Tensor> tensors) {
    for (auto& [name, t] : tensors) t = t.detach().to(at::kCPU, options.dtype);
    return tensors;
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  const auto weights = convert(io::CheckpointStateDict(model));
  if (options.write_model) io::WriteSafetensors((staging / "model.safetensors").string(), weights, meta);
  if (options.write_ema) {
    io::WriteSafetensors((staging / "ema.safetensors").string(),
                         options.ema ? convert(*options.ema) : weights, meta);
  }
  fs::remove_all(target);
  fs::rename(staging, target);
}

}  // namespace bagel
