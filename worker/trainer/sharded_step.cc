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
                            std::optional<at::Generator> noise_generator, bool read) {
  TORCH_CHECK(!micro_batches.empty(), "a step needs at least one micro-batch");
  const int64_t world = engine_.world_size();
  const int accum = static_cast<int>(micro_batches.size());
  const at::Device device = engine_.world().device();
  StepReport report;
  // Everything the report needs stays on the device until the one read at the end: per
  // micro-step the global counts (CE, MSE, tokens, sum of squared sample lengths) and the
  // logged CE and MSE, then the gradient norm.
  std::vector<at::Tensor> pieces;
  engine_.ZeroGrad();
  for (const PackedBatch& batch : micro_batches) {
    double sq = 0;
    for (int64_t len : batch.sample_lens) sq += static_cast<double>(len) * len;
    at::Tensor counts = at::tensor({static_cast<double>(Count(batch.ce_loss_indexes)),
                                    static_cast<double>(Count(batch.mse_loss_indexes)),
                                    static_cast<double>(batch.sequence_length), sq},
                                   at::TensorOptions().dtype(at::kDouble))
                            .to(device, /*non_blocking=*/true);
    engine_.world().AllReduceSum(counts, /*host_wait=*/false);
    report.tokens += batch.sequence_length;

    engine_.BeginForward();
    ForwardOptions fo;
    fo.noise_generator = noise_generator;
    fo.uniform_ce_gradient = true;  // TokenNormalizedLoss sums the CE times one factor
    ForwardOutputs out = model_.Forward(batch, fo);
    engine_.EndForward(/*backward_follows=*/true);
    MicroStepLoss loss = TokenNormalizedLoss(out, counts.narrow(0, 0, 2), static_cast<int>(world),
                                             hyper_.loss_weights, accum);
    if (loss.loss.defined() && loss.loss.requires_grad()) {
      loss.loss.backward();
    } else {
      engine_.BackwardWithoutGraph();
    }
    // The logged values: each rank's normalised CE / MSE, averaged over ranks.
    at::Tensor logged = loss.logged.to(device);
    engine_.world().AllReduceSum(logged, /*host_wait=*/false);
    pieces.push_back(counts);
    pieces.push_back(logged / static_cast<double>(world));
  }
  report.lr = hyper_.schedule.At(steps_done_);
  const at::Tensor norm = engine_.OptimizerStep(hyper_.adamw, report.lr, steps_done_ + 1,
                                                hyper_.max_grad_norm, hyper_.ema_decay);
  pieces.push_back(norm.to(at::kDouble).reshape({1}));
  report.step = ++steps_done_;
  report.pending_ = at::cat(pieces);
  if (read) report.Read();
  return report;
}

void StepReport::Read() {
  if (!pending_.defined()) return;
  const at::Tensor host = pending_.to(at::kCPU);  // the step's one host synchronisation
  pending_.reset();
  const double* v = host.const_data_ptr<double>();
  const int64_t micro = (host.numel() - 1) / 6;
  micro_ce.clear();
  micro_mse.clear();
  global_ce_tokens = global_mse_tokens = global_tokens = 0;
  sum_sample_len_sq = 0;
  for (int64_t m = 0; m < micro; ++m) {
    const double* c = v + 6 * m;
    global_ce_tokens += static_cast<int64_t>(c[0]);
    global_mse_tokens += static_cast<int64_t>(c[1]);
    global_tokens += static_cast<int64_t>(c[2]);
    sum_sample_len_sq += c[3];
    micro_ce.push_back(c[4]);
    micro_mse.push_back(c[5]);
  }
  grad_norm = v[6 * micro];
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
