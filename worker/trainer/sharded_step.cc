#include "worker/trainer/sharded_step.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace bagel::train {
namespace {

int64_t Count(const at::Tensor& t) { return t.defined() ? t.numel() : 0; }

}  // namespace

ShardedStep::ShardedStep(BagelForUnifiedMultimodal& model, fsdp::FsdpEngine& engine,
                         StepHyper hyper)
    : model_(model), engine_(engine), hyper_(std::move(hyper)) {}

StepReport ShardedStep::Run(const std::vector<PackedBatch>& micro_batches,
                            std::optional<at::Generator> noise_generator) {
  TORCH_CHECK(!micro_batches.empty(), "a step needs at least one micro-batch");
  const int64_t world = engine_.world_size();
  const int accum = static_cast<int>(micro_batches.size());
  const at::Device device = engine_.world().device();
  StepReport report;
  engine_.ZeroGrad();
  for (const PackedBatch& batch : micro_batches) {
    // Global token counts of this micro-step (and sizes for the throughput figures).
    double sq = 0;
    for (int64_t len : batch.sample_lens) sq += static_cast<double>(len) * len;
    at::Tensor counts = at::tensor({static_cast<double>(Count(batch.ce_loss_indexes)),
                                    static_cast<double>(Count(batch.mse_loss_indexes)),
                                    static_cast<double>(batch.sequence_length), sq},
                                   at::TensorOptions().dtype(at::kDouble))
                            .to(device);
    engine_.world().AllReduceSum(counts);
    counts = counts.to(at::kCPU);
    const int64_t global_ce = static_cast<int64_t>(counts[0].item<double>());
    const int64_t global_mse = static_cast<int64_t>(counts[1].item<double>());
    report.global_ce_tokens += global_ce;
    report.global_mse_tokens += global_mse;
    report.global_tokens += static_cast<int64_t>(counts[2].item<double>());
    report.sum_sample_len_sq += counts[3].item<double>();
    report.tokens += batch.sequence_length;

    engine_.BeginForward();
    ForwardOptions fo;
    fo.noise_generator = noise_generator;
    ForwardOutputs out = model_.Forward(batch, fo);
    engine_.EndForward(/*backward_follows=*/true);
    MicroStepLoss loss = TokenNormalizedLoss(out, global_ce, global_mse, static_cast<int>(world),
                                             hyper_.loss_weights, accum);
    if (loss.loss.defined() && loss.loss.requires_grad()) {
      loss.loss.backward();
    } else {
      engine_.BackwardWithoutGraph();
    }
    // The logged values: each rank's normalised CE / MSE, averaged over ranks.
    at::Tensor logged =
        at::tensor({loss.ce, loss.mse}, at::TensorOptions().dtype(at::kDouble)).to(device);
    engine_.world().AllReduceSum(logged);
    logged = logged.to(at::kCPU) / static_cast<double>(world);
    report.micro_ce.push_back(logged[0].item<double>());
    report.micro_mse.push_back(logged[1].item<double>());
  }
  report.lr = hyper_.schedule.At(steps_done_);
  report.grad_norm = engine_.ClipGradNorm(hyper_.max_grad_norm);
  engine_.AdamWStep(hyper_.adamw, report.lr, steps_done_ + 1);
  if (hyper_.ema_decay > 0) engine_.UpdateEma(hyper_.ema_decay);
  report.step = ++steps_done_;
  return report;
}

std::pair<double, double> ShardedStep::Evaluate(const std::vector<PackedBatch>& batches,
                                                std::optional<at::Generator> noise_generator) {
  at::NoGradGuard no_grad;
  // Evaluation mode (no LoRA dropout) for these batches only.
  model_.eval();
  struct BackToTraining {
    BagelForUnifiedMultimodal& model;
    ~BackToTraining() { model.train(); }
  } back_to_training{model_};
  const at::Device device = engine_.world().device();
  at::Tensor sums = at::zeros({4}, at::TensorOptions().dtype(at::kDouble).device(device));
  for (const PackedBatch& batch : batches) {
    engine_.BeginForward();
    ForwardOptions fo;
    fo.noise_generator = noise_generator;
    ForwardOutputs out = model_.Forward(batch, fo);
    engine_.EndForward(/*backward_follows=*/false);
    if (out.ce.defined()) {
      sums[0] += out.ce.to(at::kDouble).sum();
      sums[1] += static_cast<double>(out.ce.numel());
    }
    if (out.mse.defined()) {
      sums[2] += out.mse.to(at::kDouble).mean(-1).sum();
      sums[3] += static_cast<double>(out.mse.size(0));
    }
  }
  engine_.world().AllReduceSum(sums);
  sums = sums.to(at::kCPU);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double ce =
      sums[1].item<double>() > 0 ? sums[0].item<double>() / sums[1].item<double>() : nan;
  const double mse =
      sums[3].item<double>() > 0 ? sums[2].item<double>() / sums[3].item<double>() : nan;
  return {ce, mse};
}

}  // namespace bagel::train
