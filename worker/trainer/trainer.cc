#include "worker/trainer/trainer.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "contract/checkpoint_layout.h"
#include "model/bagel/flop_count.h"
#include "model/config/presets.h"
#include "model/inference/prompt_codec.h"
#include "model/io/safetensors.h"
#include "model/runtime/matmul_precision.h"
#include "worker/checkpoint/sha256.h"
#include "worker/tensorboard/training_run_log.h"
#include "worker/trainer/checkpoint_values.h"
#include "worker/trainer/generator_state.h"
#include "worker/trainer/job_model.h"
#include "worker/trainer/lora_base.h"
#include "worker/trainer/rank_device.h"
#include "worker/trainer/rank_metrics.h"
#include "worker/trainer/stop_signal.h"

namespace bagel::train {
namespace {

namespace fs = std::filesystem;

constexpr double kGpuBf16PeakFlops = 989e12;  // H100 / H200 dense bf16, as BAGEL's logs use

}  // namespace

Trainer::Trainer(const config::JobSpec& spec, const TrainJobOptions& options)
    : spec_(spec), options_(options) {
  SetUpRank();
  BuildModel();
  BuildData();
  BuildStep();
  Resume();
}

Trainer::~Trainer() {
  if (progress_) progress_->set_sink(nullptr);  // the TensorBoard log goes before the reporter
}

// --- set-up ------------------------------------------------------------------------------------

void Trainer::SetUpRank() {
  env_ = dist::DistEnv::FromEnvironment();
  const char* forced = std::getenv("BAGEL_DEVICE");
  device_ = SelectRankDevice({forced ? forced : "", spec_.parallel.gpus_per_worker,
                              static_cast<int>(at::detail::getCUDAHooks().deviceCount()),
                              env_.local_rank, env_.local_world_size});
  // Before anything is created: NCCL, the caching allocator and cuBLAS use the current device.
  MakeCurrentDevice(device_);
  if (device_.is_cuda()) UseFloat32Accumulation();
  if (device_.is_cpu()) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(std::max(1, cores / env_.local_world_size));
  }
  InstallStopSignalHandlers();
  progress_ = std::make_unique<ProgressReporter>(env_.rank, spec_.train.steps);
  progress_->set_world_size(env_.world_size);
  world_ = dist::Communicator::Create(env_, device_,
                                      std::chrono::seconds(spec_.parallel.collective_timeout_s));
  stage_ = spec_.model.stage;
}

// --- the model: configured, built (on the meta device unless random), sharded, initialised ----

void Trainer::BuildModel() {
  const bool from_preset = spec_.model.init_from.kind == config::InitFrom::Kind::kPreset;
  config_ = JobModelConfig(spec_);
  const at::TensorOptions build =
      from_preset ? at::TensorOptions().dtype(at::kFloat) : at::TensorOptions().device(at::kMeta);
  model_ = std::make_shared<BagelForUnifiedMultimodal>(config_, build);
  if (from_preset) model_->InitializeWeights(spec_.model.init_from.seed);
  lora_modules_ = ApplyTrainableSettings(spec_, *model_);

  fsdp_options_.device = device_;
  fsdp_options_.compute_dtype = spec_.train.precision == "bf16" ? at::kBFloat16 : at::kFloat;
  // Unset in the spec: on for a GPU rank (a 7B layer stack at 32k tokens cannot keep its
  // activations), off on a CPU.
  fsdp_options_.activation_checkpointing =
      spec_.train.activation_checkpointing.value_or(device_.is_cuda());
  fsdp_options_.optimizer_offload = spec_.train.optimizer_offload;
  // With LoRA a checkpoint holds the adapters; the frozen base is read again at every start.
  fsdp_options_.frozen_in_checkpoint = !spec_.lora.enabled;
  fsdp_options_.shard_group_size =
      spec_.parallel.sharding == "hybrid" ? static_cast<int>(spec_.parallel.shard_group_size) : 0;
  engine_ = std::make_unique<fsdp::FsdpEngine>(*model_, world_, fsdp_options_);
  if (from_preset) {
    engine_->InitFromModel();
  } else {
    const fs::path weights = InitWeightsFile(spec_.model.init_from.path);
    auto values = ValuesFromCheckpoint(io::SafetensorsFile::Open(weights.string()), *model_,
                                       /*strict=*/false, spec_.model.init_from.seed);
    progress_->Log("init from " + weights.string() + ": " + values.report.Summary());
    // Name what was not loaded (a Stage 2 start from Stage 1: the generation expert and the
    // generation-only modules), once.
    if (env_.rank == 0 && !values.report.initialized.empty()) {
      std::string keys;
      for (const std::string& key : values.report.initialized) keys += "\n  " + key;
      progress_->Log("initialised keys:" + keys);
    }
    engine_->InitFromValues(values.value);
  }
  if (spec_.lora.enabled) lora_base_ = LoraBaseIdentity(spec_, *world_);
  if (stage_ == 2) {
    vae_ =
        vae::FluxVae::Load(spec_.model.vae, at::TensorOptions().dtype(at::kFloat).device(device_));
    // The official trainer encodes under bf16 autocast: bf16 convolutions, float32 norms.
    if (spec_.train.precision == "bf16") vae_->UseComputeDtype(at::kBFloat16);
  }
}

// --- the data: generated (demo) or the spec's datasets, and what evaluation needs -------------

void Trainer::BuildData() {
  const bool from_preset = spec_.model.init_from.kind == config::InitFrom::Kind::kPreset;
  // The tokenizer (data.tokenizer, else the init checkpoint's files): read by the data stream
  // and eval prompts, copied into the HF export.
  tokenizer_dir_ = !spec_.data.tokenizer.empty() ? spec_.data.tokenizer
                   : from_preset                 ? ""
                                                 : spec_.model.init_from.path;
  // Stage 2 evaluation samples images from eval.prompts, encoded once here so that a prompt the
  // model cannot read fails the job before training starts.
  if (spec_.eval.enabled && !spec_.eval.prompts.empty()) {
    TORCH_CHECK(stage_ == 2,
                "eval.prompts: sampling images needs a Stage 2 model (model.stage: 2)");
    const PromptCodec codec = PromptCodec::ForModel(config_, tokenizer_dir_);
    EvalSampleOptions so;
    for (const std::string& prompt : spec_.eval.prompts)
      so.prompt_ids.push_back(codec.Encode(prompt));
    so.tokens = codec.special_tokens();
    so.image_size = spec_.eval.image_size;
    so.num_timesteps = static_cast<int>(spec_.eval.num_timesteps);
    so.seed = spec_.train.seed + 31;
    eval_samples_ = so;
  }
  if (config_.llm.vocab_size <= 256) tokens_ = {252, 253, 254, 255};
  packer_.max_latent_size = config_.max_latent_size;
  packer_.text_cond_dropout_prob = spec_.data.cfg_dropout.text;
  packer_.vit_cond_dropout_prob = spec_.data.cfg_dropout.vit;
  packer_.vae_cond_dropout_prob = spec_.data.cfg_dropout.vae;
  demo_options_.expected_num_tokens = spec_.data.expected_num_tokens;
  demo_options_.generation = stage_ == 2;
  demo_options_.seed = spec_.data.groups[0].shuffle_seed;
  demo_options_.rank = env_.rank;
  demo_options_.world_size = env_.world_size;
  demo_ = std::make_unique<data::DemoData>(demo_options_, packer_, tokens_);
  // Datasets named in the spec (docs/DATA.md) replace the generated data.
  if (data::TrainingDataStream::NamesDatasets(spec_.data))
    stream_ = MakeStream(spec_.data.groups, spec_.train.seed, spec_.data.loader_threads);
  eval_datasets_ = spec_.eval.dataset && spec_.eval.dataset->type != "demo";
  // Built again at every evaluation (the same batches each time); built once here so that an
  // eval dataset that cannot serve every rank fails the job at start, not at the first eval.
  if (spec_.eval.enabled && eval_datasets_)
    MakeStream({*spec_.eval.dataset}, spec_.train.seed + 999, 0).reset();
}

std::unique_ptr<data::TrainingDataStream> Trainer::MakeStream(
    std::vector<config::DataGroupSpec> groups, uint64_t seed, int64_t loader_threads) {
  data::DataStreamOptions so;
  so.data = spec_.data;
  so.data.groups = std::move(groups);
  so.data.loader_threads = loader_threads;
  so.tokenizer_dir = tokenizer_dir_;
  so.packer = packer_;
  so.vocab_size = config_.llm.vocab_size;
  so.rank = env_.rank;
  so.world_size = env_.world_size;
  so.seed = seed;
  ProgressReporter* progress = progress_.get();
  so.log = [progress](const std::string& line) { progress->Log(line); };
  return std::make_unique<data::TrainingDataStream>(std::move(so));
}

// --- the step: hyper-parameters, the sharded step, generators, checkpoints -------------------

void Trainer::BuildStep() {
  hyper_.schedule = {LrSchedule::ParseKind(spec_.train.schedule), spec_.train.lr,
                     spec_.train.warmup_steps, spec_.train.steps, spec_.train.min_lr};
  hyper_.adamw = {spec_.train.beta1, spec_.train.beta2, spec_.train.eps, spec_.train.weight_decay};
  hyper_.max_grad_norm = spec_.train.max_grad_norm;
  hyper_.ema_decay = spec_.train.ema_decay;
  hyper_.loss_weights = {spec_.train.ce_weight, spec_.train.mse_weight};
  step_ = std::make_unique<ShardedStep>(*model_, *engine_, hyper_);
  rank_seed_ = spec_.train.seed * static_cast<uint64_t>(env_.world_size) + env_.rank;  // official
  noise_gen_ = MakeGenerator(device_, rank_seed_);
  vae_gen_ = MakeGenerator(device_, rank_seed_ + 1000003);
  job_dir_ = (fs::path(options_.checkpoint_root) / options_.job_id).string();
  store_ = std::make_unique<ckpt::CheckpointStore>(job_dir_);
  // Unset in the spec: asynchronous on a GPU rank (the snapshot goes to pinned memory and the
  // write overlaps the next steps), synchronous on a CPU one.
  checkpoints_ = std::make_unique<ckpt::CheckpointWriter>(
      *store_, world_, spec_.checkpoint.async.value_or(device_.is_cuda()));
  ckpt::Sha256 h;
  h.Update(config::JobSpecToYaml(spec_));
  config_hash_ = h.HexFinish();
}

// --- the loop ----------------------------------------------------------------------------------

contract::ExitCode Trainer::Run() {
  contract::ProgressLine started;
  started.kind = contract::ProgressLine::Kind::kStarted;
  started.rank = env_.rank;
  started.world_size = env_.world_size;
  started.step = step_->steps_done();
  started.total_steps = spec_.train.steps;
  started.attempt = options_.attempt;
  started.device = device_.str();
  if (env_.rank == 0) OpenTensorBoardRun();
  progress_->Emit(started);

  SetInTrainingLoop(true);
  while (step_->steps_done() < spec_.train.steps) {
    if (StopAgreed()) {
      if (last_checkpoint_ != step_->steps_done()) WriteCheckpoint(step_->steps_done());
      FinishCheckpoints();
      progress_->Log("stopped by signal at step " + std::to_string(step_->steps_done()) +
                     " after a checkpoint");
      return contract::ExitCode::kStopped;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<PackedBatch> micro;
    for (int64_t m = 0; m < spec_.train.grad_accum; ++m) micro.push_back(NextBatch());
    const int64_t next = step_->steps_done() + 1;
    const bool log = next % spec_.train.log_every == 0 || next == spec_.train.steps || next == 1;
    // Only a logged step reads its figures back (the step's one host synchronisation).
    const StepReport r = step_->Run(micro, *noise_gen_, /*read=*/log);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (log) LogStep(r, seconds);
    if (r.step % spec_.checkpoint.every_steps == 0 || r.step == spec_.train.steps)
      WriteCheckpoint(r.step);
    if (spec_.eval.enabled &&
        (r.step % spec_.eval.every_steps == 0 || r.step == spec_.train.steps)) {
      Evaluate(r.step);
    }
    ReportCheckpoints();
  }
  if (last_checkpoint_ != step_->steps_done()) WriteCheckpoint(step_->steps_done());
  // The job's end waits for the writer: the final checkpoint is published before "done".
  FinishCheckpoints();
  SetInTrainingLoop(false);

  contract::ProgressLine done;
  done.kind = contract::ProgressLine::Kind::kDone;
  done.step = step_->steps_done();
  done.final_checkpoint =
      (fs::path(job_dir_) / contract::StepDirName(step_->steps_done())).string();
  if (spec_.checkpoint.export_hf) done.hf_export = ExportHf();
  progress_->Emit(done);
  return contract::ExitCode::kDone;
}

// Every rank stops at the same step when any was asked to (SIGTERM reaches them at different
// moments): the flag is summed over the world.
bool Trainer::StopAgreed() {
  at::Tensor stop = at::full({1}, StopRequested() ? 1.0 : 0.0,
                             at::TensorOptions().dtype(at::kFloat).device(device_));
  world_->AllReduceSum(stop);
  return stop.item<float>() > 0;
}

PackedBatch Trainer::NextBatch() {
  data::PackedSequence packed = stream_ ? stream_->Next().packed : demo_->Next();
  PackedBatch b = packed.batch.To(device_, fsdp_options_.compute_dtype);
  if (vae_ && packed.padded_images.defined()) {
    at::NoGradGuard no_grad;
    vae::VaeEncodeOptions eo;
    eo.generator = *vae_gen_;
    // Float32, as the official bf16 step's posterior sample (docs/PARITY.md, "The bf16 step").
    b.padded_latent = vae_->Encode(packed.padded_images.to(device_), eo).to(at::kFloat);
  } else {
    b.patchified_vae_latent_shapes.clear();
  }
  return b;
}

void Trainer::LogStep(const StepReport& r, double seconds) {
  contract::ProgressLine line;
  line.kind = contract::ProgressLine::Kind::kStep;
  line.step = r.step;
  line.total_steps = spec_.train.steps;
  for (double v : r.micro_ce) line.ce += v / static_cast<double>(r.micro_ce.size());
  for (double v : r.micro_mse) line.mse += v / static_cast<double>(r.micro_mse.size());
  line.lr = r.lr;
  line.grad_norm = r.grad_norm;
  line.tokens = r.global_tokens;
  line.tokens_per_s = static_cast<double>(r.global_tokens) / seconds;
  line.step_time_s = seconds;
  line.mfu = device_.is_cuda() ? BagelMfuFlops(config_, r.global_tokens, r.sum_sample_len_sq) /
                                     seconds / (kGpuBf16PeakFlops * env_.world_size)
                               : 0.0;
  line.mem_bytes = DeviceMemoryBytes(device_);
  line.host_mem_bytes = HostPeakBytes();
  line.ce_tokens = r.global_ce_tokens;
  line.mse_tokens = r.global_mse_tokens;
  if (stream_) AddDataCountsOfAllRanks(stream_->Stats(), *world_, device_, line);
  progress_->Step(line);
}

}  // namespace bagel::train
