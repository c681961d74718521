#include "model/io/state_dict_adapter.h"

#include <c10/util/Exception.h>

#include <set>
#include <sstream>

#include "model/siglip/patch_embedding.h"

namespace bagel::io {
namespace {

constexpr const char kNativePrefix[] = "model.";

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Keys only Stage 2 uses: the generation expert and heads, and the latent position table.
bool IsGenerationOnly(const std::string& key, CheckpointKeyKind kind) {
  return kind == CheckpointKeyKind::kGeneration || key == "latent_pos_embed.pos_embed";
}

std::string JoinNames(const std::vector<std::string>& names, size_t limit = 20) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < names.size() && i < limit; ++i) out << (i ? ", " : "") << names[i];
  if (names.size() > limit) out << ", ... and " << names.size() - limit << " more";
  out << "]";
  return out.str();
}

std::string ShapeText(at::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

}  // namespace

CheckpointKeyKind ClassifyCheckpointKey(const std::string& key) {
  if (key == "vit_pos_embed.pos_embed" || key == "latent_pos_embed.pos_embed") {
    return CheckpointKeyKind::kPositionTable;
  }
  if (StartsWith(key, "encoder.") || StartsWith(key, "decoder.")) return CheckpointKeyKind::kVae;
  for (const char* p : {"time_embedder.", "vae2llm.", "llm2vae.", "latent_pos_embed."}) {
    if (StartsWith(key, p)) return CheckpointKeyKind::kGeneration;
  }
  if (StartsWith(key, "language_model.")) {
    return key.find("_moe_gen") != std::string::npos ? CheckpointKeyKind::kGeneration
                                                     : CheckpointKeyKind::kUnderstanding;
  }
  for (const char* p : {"vit_model.", "connector.", "vit_pos_embed."}) {
    if (StartsWith(key, p)) return CheckpointKeyKind::kUnderstanding;
  }
  return CheckpointKeyKind::kUnknown;
}

std::string CheckpointKeyToNative(const std::string& key) { return kNativePrefix + key; }

std::string NativeKeyToCheckpoint(const std::string& native) {
  TORCH_CHECK(StartsWith(native, kNativePrefix), "parameter '", native, "' is not under 'model.'");
  return native.substr(sizeof(kNativePrefix) - 1);
}

std::string LoadReport::Summary() const {
  std::ostringstream out;
  out << loaded.size() << " loaded";
  if (!converted.empty()) out << " (" << converted.size() << " converted Conv2d->Linear)";
  out << ", " << recomputed.size() << " recomputed, " << dropped.size() << " dropped, "
      << unexpected.size() << " unexpected, " << missing.size() << " missing";
  if (!initialized.empty()) {
    size_t copied = 0;
    for (const std::string& key : initialized) copied += key.find(" (copied from ") != key.npos;
    out << ", " << initialized.size() << " initialised";
    if (copied > 0) out << " (" << copied << " copied from the understanding expert)";
  }
  return out.str();
}

LoadReport LoadCheckpoint(torch::nn::Module& module, const SafetensorsFile& file,
                          const LoadOptions& options) {
  LoadReport report;
  auto params = module.named_parameters(/*recurse=*/true);
  std::set<std::string> seen;
  at::NoGradGuard no_grad;
  for (const auto& [key, entry] : file.entries()) {
    const CheckpointKeyKind kind = ClassifyCheckpointKey(key);
    if (kind == CheckpointKeyKind::kVae || (IsGenerationOnly(key, kind) && options.stage == 1)) {
      report.dropped.push_back(key);
      continue;
    }
    const std::string native = CheckpointKeyToNative(key);
    at::Tensor* param = params.find(native);
    if (kind == CheckpointKeyKind::kUnknown || param == nullptr) {
      report.unexpected.push_back(key);
      continue;
    }
    seen.insert(native);
    const at::IntArrayRef want = param->sizes();
    const bool conv_patch =
        EndsWith(key, "patch_embedding.weight") && entry.shape.size() == 4 && want.size() == 2;
    if (conv_patch) {
      const int64_t flat = entry.shape[1] * entry.shape[2] * entry.shape[3];
      TORCH_CHECK(entry.shape[0] == want[0] && flat == want[1], file.path(), ": tensor '", key,
                  "' has Conv2d shape ", ShapeText(entry.shape), " which does not flatten to ",
                  ShapeText(want));
      if (!options.validate_only) param->copy_(ConvPatchWeightToLinear(file.View(key)));
      report.converted.push_back(key);
      report.loaded.push_back(key);
      continue;
    }
    TORCH_CHECK(entry.shape == want.vec(), file.path(), ": tensor '", key, "' has shape ",
                ShapeText(entry.shape), " but the model expects ", ShapeText(want));
    if (kind == CheckpointKeyKind::kPositionTable) {
      report.recomputed.push_back(key);  // training pops these and rebuilds the sin-cos table
      continue;
    }
    if (!options.validate_only) param->copy_(file.View(key));
    report.loaded.push_back(key);
  }
  for (const auto& item : params) {
    if (seen.count(item.key())) continue;
    const std::string key = NativeKeyToCheckpoint(item.key());
    if (ClassifyCheckpointKey(key) == CheckpointKeyKind::kPositionTable) continue;
    report.missing.push_back(key);
  }
  if (options.strict) {
    TORCH_CHECK(report.unexpected.empty() && report.missing.empty(), file.path(),
                ": strict load (stage ", options.stage, ") failed: ", report.unexpected.size(),
                " unexpected key(s) ", JoinNames(report.unexpected), "; ", report.missing.size(),
                " missing key(s) ", JoinNames(report.missing));
  }
  return report;
}

std::map<std::string, at::Tensor> CheckpointStateDict(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.emplace(NativeKeyToCheckpoint(item.key()), item.value().detach());
  }
  return out;
}

}  // namespace bagel::io
