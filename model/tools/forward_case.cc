#include "model/tools/forward_case.h"

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <filesystem>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/bagel/packed_batch_file.h"
#include "model/config/bagel_config.h"
#include "model/inference/infer_case.h"
#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"
#include "model/vae/flux_vae.h"

namespace bagel {

std::map<std::string, at::Tensor> RunVaeCase(const std::string& checkpoint_dir,
                                             const std::map<std::string, at::Tensor>& batch,
                                             const std::string& batch_path,
                                             const ForwardCaseOptions& options) {
  for (const auto& [name, tensor] : batch) {
    TORCH_CHECK(name == "vae.image" || name == "vae.latent", batch_path, ": tensor '", name,
                "' is not part of a VAE case (expected vae.image and/or vae.latent)");
  }
  const std::string path = (std::filesystem::path(checkpoint_dir) / "ae.safetensors").string();
  TORCH_CHECK(std::filesystem::exists(path), batch_path, " is a VAE case but ", path,
              " does not exist");
  const at::TensorOptions to = at::TensorOptions().dtype(options.dtype).device(options.device);
  auto vae = vae::FluxVae::Load(path, to);
  c10::InferenceMode guard;
  std::map<std::string, at::Tensor> result;
  if (auto it = batch.find("vae.image"); it != batch.end()) {
    result["vae.latent_mean"] = vae->EncodeMean(it->second.to(to)).to(at::kCPU, at::kFloat);
  }
  if (auto it = batch.find("vae.latent"); it != batch.end()) {
    result["vae.decoded"] = vae->Decode(it->second.to(to)).to(at::kCPU, at::kFloat);
  }
  return result;
}

std::map<std::string, at::Tensor> RunForwardCase(const std::string& checkpoint_dir,
                                                 const std::string& batch_path,
                                                 const ForwardCaseOptions& options) {
  if (!options.infer_case.empty()) {
    TORCH_CHECK(options.grad_keys.empty(), "--grad does not apply to inference cases (--infer)");
    InferCaseOptions infer;
    infer.device = options.device;
    infer.dtype = options.dtype;
    infer.stage = options.stage;
    return RunInferCase(checkpoint_dir, batch_path, options.infer_case, infer);
  }
  auto batch_file = io::SafetensorsFile::Open(batch_path);
  bool vae_case = false;
  for (const auto& [name, entry] : batch_file->entries()) vae_case |= name.rfind("vae.", 0) == 0;
  if (vae_case) {
    TORCH_CHECK(options.grad_keys.empty(), "--grad does not apply to VAE cases (", batch_path,
                " holds vae.* tensors)");
    return RunVaeCase(checkpoint_dir, batch_file->ReadAll(), batch_path, options);
  }
  const int stage = options.stage.value_or(LoadBagelConfig(checkpoint_dir).StageFromFile());
  const at::Device device(options.device);
  FromPretrainedOptions load;
  load.tensor_options = at::TensorOptions().dtype(options.dtype).device(device);
  auto loaded =
      BagelForUnifiedMultimodal::FromPretrained(checkpoint_dir, stage, options.strict, load);
  BagelForUnifiedMultimodal& model = *loaded.model;
  model.SetGroupedRouting(options.grouped_routing);

  PackedBatch batch = PackedBatchFromTensors(batch_file->ReadAll(), batch_path);
  batch.Validate(model.config().llm.vocab_size);
  batch = batch.To(device, options.dtype);

  auto params = model.named_parameters(/*recurse=*/true);
  for (const auto& key : options.grad_keys) {
    TORCH_CHECK(params.find(io::CheckpointKeyToNative(key)) != nullptr, "--grad ", key,
                ": the stage-", stage, " model has no parameter of that name");
  }
  ForwardOutputs out = model.Forward(batch);
  if (options.loss_dtypes != nullptr) {
    if (out.ce.defined()) (*options.loss_dtypes)["ce"] = out.ce.scalar_type();
    if (out.mse.defined()) (*options.loss_dtypes)["mse"] = out.mse.scalar_type();
  }
  std::map<std::string, at::Tensor> result;
  at::Tensor loss = at::zeros({}, at::TensorOptions().dtype(at::kFloat).device(device));
  if (out.ce.defined()) {
    result["ce"] = out.ce.detach().to(at::kCPU, at::kFloat);
    loss = loss + out.ce.to(at::kFloat).mean();
  }
  if (out.mse.defined()) {
    result["mse"] = out.mse.detach().to(at::kCPU, at::kFloat);
    loss = loss + out.mse.to(at::kFloat).mean(-1).mean();
  }
  result["loss"] = loss.detach().to(at::kCPU);
  if (!options.grad_keys.empty() && loss.requires_grad()) loss.backward();
  for (const auto& key : options.grad_keys) {
    const at::Tensor& p = *params.find(io::CheckpointKeyToNative(key));
    at::Tensor g = p.grad().defined() ? p.grad() : at::zeros_like(p);
    result["grad." + key] = g.detach().to(at::kCPU, at::kFloat);
  }
  return result;
}

}  // namespace bagel
