#include "model/tools/forward_case.h"

#include <c10/util/Exception.h>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/bagel/packed_batch_file.h"
#include "model/config/bagel_config.h"
#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"

namespace bagel {

std::map<std::string, at::Tensor> RunForwardCase(const std::string& checkpoint_dir,
                                                 const std::string& batch_path,
                                                 const ForwardCaseOptions& options) {
  auto batch_file = io::SafetensorsFile::Open(batch_path);
  for (const auto& [name, entry] : batch_file->entries()) {
    TORCH_CHECK(name.rfind("vae.", 0) != 0, batch_path, ": tensor '", name,
                "' asks for the VAE, which this build does not have yet");
  }
  const int stage = options.stage.value_or(LoadBagelConfig(checkpoint_dir).StageFromFile());
  const at::Device device(options.device);
  FromPretrainedOptions load;
  load.tensor_options = at::TensorOptions().dtype(options.dtype).device(device);
  auto loaded =
      BagelForUnifiedMultimodal::FromPretrained(checkpoint_dir, stage, options.strict, load);
  BagelForUnifiedMultimodal& model = *loaded.model;

  PackedBatch batch = PackedBatchFromTensors(batch_file->ReadAll(), batch_path);
  batch.Validate(model.config().llm.vocab_size);
  batch = batch.To(device, options.dtype);

  auto params = model.named_parameters(/*recurse=*/true);
  for (const auto& key : options.grad_keys) {
    TORCH_CHECK(params.find(io::CheckpointKeyToNative(key)) != nullptr, "--grad ", key,
                ": the stage-", stage, " model has no parameter of that name");
  }
  ForwardOutputs out = model.Forward(batch);
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
