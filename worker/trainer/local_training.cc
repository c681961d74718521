#include "worker/trainer/local_training.h"

#include <c10/util/Exception.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <chrono>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/bagel/hf_export.h"
#include "model/config/presets.h"
#include "worker/data/demo_data.h"

namespace bagel::train {

std::vector<StepRecord> RunLocalTraining(const LocalTrainingOptions& o,
                                         const std::function<void(const StepRecord&)>& on_step) {
  TORCH_CHECK(o.stage == 1, "the local trainer trains Stage 1 (Stage 2 needs the VAE)");
  std::shared_ptr<BagelForUnifiedMultimodal> model;
  if (o.init_from.empty()) {
    BagelConfig config = PresetConfig(o.preset);
    PrepareConfigForStage(config, o.stage);
    model =
        std::make_shared<BagelForUnifiedMultimodal>(config, at::TensorOptions().dtype(at::kFloat));
    model->InitializeWeights(o.seed);
  } else {
    model = BagelForUnifiedMultimodal::FromPretrained(o.init_from, o.stage, /*strict=*/false).model;
  }
  const BagelConfig& config = model->config();
  data::SpecialTokens tokens;
  if (config.llm.vocab_size <= 256) tokens = {252, 253, 254, 255};  // the tiny vocabulary
  data::DemoDataOptions data_options;
  data_options.expected_num_tokens = o.expected_num_tokens;
  data_options.seed = o.seed + 1;
  data_options.vocab_for_text = std::min<int64_t>(250, config.llm.vocab_size);
  data::PackerConfig packer;
  packer.max_latent_size = config.max_latent_size;
  data::DemoData data(data_options, packer, tokens);

  std::vector<at::Tensor> params;
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.schedule.lr)
                                            .betas({o.beta1, o.beta2})
                                            .eps(o.eps)
                                            .weight_decay(o.weight_decay));
  std::vector<StepRecord> records;
  for (int64_t step = 0; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = o.schedule.At(step);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    PackedBatch batch = data.Next().batch;
    ForwardOutputs out = model->Forward(batch);
    const int64_t ce_tokens = out.ce.defined() ? out.ce.numel() : 0;
    const int64_t mse_tokens = out.mse.defined() ? out.mse.size(0) : 0;
    MicroStepLoss loss = TokenNormalizedLoss(out, ce_tokens, mse_tokens, 1, o.loss_weights, 1);
    optimizer.zero_grad();
    loss.loss.backward();
    const double norm = torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    optimizer.step();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    StepRecord r{step + 1,
                 loss.ce,
                 loss.mse,
                 lr,
                 norm,
                 batch.sequence_length / seconds,
                 batch.sequence_length};
    records.push_back(r);
    if (on_step) on_step(r);
  }
  if (!o.out.empty()) ExportHfCheckpoint(*model, o.out);
  return records;
}

}  // namespace bagel::train
