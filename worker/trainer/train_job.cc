#include "worker/trainer/train_job.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/DeviceAccelerator.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <thread>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/bagel/flop_count.h"
#include "model/config/presets.h"
#include "model/inference/prompt_codec.h"
#include "model/io/safetensors.h"
#include "model/runtime/matmul_precision.h"
#include "model/vae/flux_vae.h"
#include "worker/checkpoint/checkpoint_store.h"
#include "worker/checkpoint/sha256.h"
#include "worker/data/datasets/skip_reasons.h"
#include "worker/data/datasets/training_data_stream.h"
#include "worker/data/demo_data.h"
#include "worker/dist/communicator.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/checkpoint_values.h"
#include "worker/trainer/eval_samples.h"
#include "worker/trainer/progress_reporter.h"
#include "worker/trainer/rank_device.h"
#include "worker/trainer/sharded_export.h"
#include "worker/trainer/sharded_step.h"
#include "worker/trainer/stop_signal.h"

namespace bagel::train {
namespace {

namespace fs = std::filesystem;

constexpr double kGpuBf16PeakFlops = 989e12;  // H100 / H200 dense bf16, as BAGEL's logs use

at::Generator MakeGenerator(const at::Device& device, uint64_t seed) {
  at::Generator gen = device.is_cuda() ? at::detail::getCUDAHooks().getNewGenerator(device.index())
                                       : at::detail::createCPUGenerator(seed);
  gen.set_current_seed(seed);
  return gen;
}

std::string StateHex(const at::Generator& gen) {
  at::Tensor s = gen.get_state().contiguous();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  const auto* p = s.data_ptr<uint8_t>();
  for (int64_t i = 0; i < s.numel(); ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

void SetStateHex(at::Generator& gen, const std::string& hex) {
  at::Tensor s = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  auto* p = s.data_ptr<uint8_t>();
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    p[i / 2] = static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  gen.set_state(s);
}

// Every saved rank's data stream state (train_state.json "ranks"[r]["data_state"]).
std::vector<nlohmann::json> SavedDataStates(const nlohmann::json& ranks) {
  std::vector<nlohmann::json> out;
  for (const auto& r : ranks) {
    TORCH_CHECK(r.contains("data_state"),
                "checkpoint: a rank has no data_state (saved without datasets?)");
    out.push_back(nlohmann::json::parse(r.at("data_state").get<std::string>()));
  }
  return out;
}

double HostPeakBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

// Peak memory of the device the rank trains on: the caching allocator's peak allocated bytes on
// an accelerator, the process's peak resident set on CPU.
double MemoryBytes(const at::Device& device) {
  if (device.is_cpu()) return HostPeakBytes();
  const auto stats = at::accelerator::getDeviceStats(device.index());
  return static_cast<double>(
      stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak);
}

// The samples every rank's loader packed and the records it skipped so far, by reason (a
// collective: every rank calls it at the same step), for the step event that rank 0 emits.
nlohmann::json SkippedRecordsOfAllRanks(const data::DataStats& stats, dist::Communicator& world,
                                        const at::Device& device) {
  const auto& reasons = data::kAllSkipReasons;
  // One slot per reason, then kSkipOther, then the samples packed.
  std::vector<double> counts(reasons.size() + 2, 0.0);
  counts.back() = static_cast<double>(stats.samples);
  for (const auto& [reason, n] : stats.skipped) {
    const char* reported = data::ReportedSkipReason(reason);
    const auto it = std::find(reasons.begin(), reasons.end(), reported);
    counts[static_cast<size_t>(it - reasons.begin())] += static_cast<double>(n);
  }
  at::Tensor t = at::tensor(counts, at::TensorOptions().dtype(at::kDouble)).to(device);
  world.AllReduceSum(t);
  t = t.cpu();
  nlohmann::json by_reason = nlohmann::json::object();
  int64_t total = 0;
  for (size_t i = 0; i + 1 < counts.size(); ++i) {
    const auto n = static_cast<int64_t>(t[static_cast<int64_t>(i)].item<double>());
    total += n;
    if (n > 0) by_reason[i < reasons.size() ? reasons[i] : data::kSkipOther] = n;
  }
  const auto samples =
      static_cast<int64_t>(t[static_cast<int64_t>(counts.size() - 1)].item<double>());
  return {
      {"data_samples", samples}, {"data_skipped", total}, {"data_skipped_by_reason", by_reason}};
}

}  // namespace

int RunTrainJob(const config::JobSpec& spec, const TrainJobOptions& o) {
  const dist::DistEnv env = dist::DistEnv::FromEnvironment();
  const char* forced = std::getenv("BAGEL_DEVICE");
  const at::Device device =
      SelectRankDevice({forced ? forced : "", spec.parallel.gpus_per_worker,
                        static_cast<int>(at::detail::getCUDAHooks().deviceCount()), env.local_rank,
                        env.local_world_size});
  // Before anything is created: NCCL, the caching allocator and cuBLAS use the current device.
  MakeCurrentDevice(device);
  if (device.is_cuda()) UseFloat32Accumulation();
  if (device.is_cpu()) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(std::max(1, cores / env.local_world_size));
  }
  InstallStopSignalHandlers();
  ProgressReporter progress(env.rank, spec.train.steps);
  progress.set_world_size(env.world_size);
  auto world = dist::Communicator::Create(env, device,
                                          std::chrono::seconds(spec.parallel.collective_timeout_s));
  const int stage = spec.model.stage;

  // --- the model ---------------------------------------------------------------------------
  const bool from_preset = spec.model.init_from.kind == config::InitFrom::Kind::kPreset;
  TORCH_CHECK(spec.model.init_from.kind != config::InitFrom::Kind::kJob,
              "model.init_from.job must be resolved to a path by the coordinator before launch");
  BagelConfig config = from_preset ? PresetConfig(spec.model.init_from.preset)
                                   : LoadBagelConfig(spec.model.init_from.path);
  if (spec.model.max_latent_size) config.max_latent_size = *spec.model.max_latent_size;
  config.timestep_shift = spec.train.timestep_shift;
  PrepareConfigForStage(config, stage);
  const at::TensorOptions build =
      from_preset ? at::TensorOptions().dtype(at::kFloat) : at::TensorOptions().device(at::kMeta);
  auto model = std::make_shared<BagelForUnifiedMultimodal>(config, build);
  if (from_preset) model->InitializeWeights(spec.model.init_from.seed);
  auto freeze = [](torch::nn::Module& m) {
    for (auto& p : m.parameters()) p.set_requires_grad(false);
  };
  if (spec.model.freeze_llm) freeze(*model->model->language_model);
  if (spec.model.freeze_vit && model->model->vit_model) freeze(*model->model->vit_model);
  model->SetFreezeUnd(spec.model.freeze_und);
  model->SetGroupedRouting(spec.model.grouped_routing);

  fsdp::FsdpOptions fo;
  fo.device = device;
  fo.compute_dtype = spec.train.precision == "bf16" ? at::kBFloat16 : at::kFloat;
  // Unset in the spec: on for a GPU rank (a 7B layer stack at 32k tokens cannot keep its
  // activations), off on a CPU.
  fo.activation_checkpointing = spec.train.activation_checkpointing.value_or(device.is_cuda());
  fo.shard_group_size =
      spec.parallel.sharding == "hybrid" ? static_cast<int>(spec.parallel.shard_group_size) : 0;
  fsdp::FsdpEngine engine(*model, world, fo);
  if (from_preset) {
    engine.InitFromModel();
  } else {
    const fs::path dir(spec.model.init_from.path);
    const fs::path weights =
        fs::exists(dir / "ema.safetensors") ? dir / "ema.safetensors" : dir / "model.safetensors";
    auto values = ValuesFromCheckpoint(io::SafetensorsFile::Open(weights.string()), *model,
                                       /*strict=*/false, spec.model.init_from.seed);
    progress.Log("init from " + weights.string() + ": " + values.report.Summary());
    // Name what was not loaded (a Stage 2 start from Stage 1: the generation expert and the
    // generation-only modules), once.
    if (env.rank == 0 && !values.report.initialized.empty()) {
      std::string keys;
      for (const std::string& key : values.report.initialized) keys += "\n  " + key;
      progress.Log("initialised keys:" + keys);
    }
    engine.InitFromValues(values.value);
  }
  std::shared_ptr<vae::FluxVae> vae;
  if (stage == 2) {
    vae = vae::FluxVae::Load(spec.model.vae, at::TensorOptions().dtype(at::kFloat).device(device));
    // The official trainer encodes under bf16 autocast: bf16 convolutions, float32 norms.
    if (spec.train.precision == "bf16") vae->UseComputeDtype(at::kBFloat16);
  }

  // --- data --------------------------------------------------------------------------------
  // The tokenizer (data.tokenizer, else the init checkpoint's files): read by the data stream
  // and eval prompts, copied into the HF export.
  const std::string tokenizer_dir = !spec.data.tokenizer.empty() ? spec.data.tokenizer
                                    : from_preset                ? ""
                                                                 : spec.model.init_from.path;
  // Stage 2 evaluation samples images from eval.prompts, encoded once here so that a prompt the
  // model cannot read fails the job before training starts.
  std::optional<EvalSampleOptions> eval_samples;
  if (spec.eval.enabled && !spec.eval.prompts.empty()) {
    TORCH_CHECK(stage == 2, "eval.prompts: sampling images needs a Stage 2 model (model.stage: 2)");
    const PromptCodec codec = PromptCodec::ForModel(config, tokenizer_dir);
    EvalSampleOptions so;
    for (const std::string& prompt : spec.eval.prompts)
      so.prompt_ids.push_back(codec.Encode(prompt));
    so.tokens = codec.special_tokens();
    so.image_size = spec.eval.image_size;
    so.num_timesteps = static_cast<int>(spec.eval.num_timesteps);
    so.seed = spec.train.seed + 31;
    eval_samples = so;
  }
  data::SpecialTokens tokens;
  if (config.llm.vocab_size <= 256) tokens = {252, 253, 254, 255};
  data::PackerConfig packer;
  packer.max_latent_size = config.max_latent_size;
  packer.text_cond_dropout_prob = spec.data.cfg_dropout.text;
  packer.vit_cond_dropout_prob = spec.data.cfg_dropout.vit;
  packer.vae_cond_dropout_prob = spec.data.cfg_dropout.vae;
  data::DemoDataOptions data_options;
  data_options.expected_num_tokens = spec.data.expected_num_tokens;
  data_options.generation = stage == 2;
  data_options.seed = spec.data.groups[0].shuffle_seed;
  data_options.rank = env.rank;
  data_options.world_size = env.world_size;
  data::DemoData data(data_options, packer, tokens);
  // Datasets named in the spec (docs/DATA.md) replace the generated data; eval.dataset, when
  // it names one, is read the same way (one loader thread, the same batches at every eval).
  auto make_stream = [&](std::vector<config::DataGroupSpec> groups, uint64_t seed,
                         int64_t loader_threads) {
    data::DataStreamOptions so;
    so.data = spec.data;
    so.data.groups = std::move(groups);
    so.data.loader_threads = loader_threads;
    so.tokenizer_dir = tokenizer_dir;
    so.packer = packer;
    so.vocab_size = config.llm.vocab_size;
    so.rank = env.rank;
    so.world_size = env.world_size;
    so.seed = seed;
    so.log = [&progress](const std::string& line) { progress.Log(line); };
    return std::make_unique<data::TrainingDataStream>(std::move(so));
  };
  std::unique_ptr<data::TrainingDataStream> stream;
  if (data::TrainingDataStream::NamesDatasets(spec.data))
    stream = make_stream(spec.data.groups, spec.train.seed, spec.data.loader_threads);
  const bool eval_datasets = spec.eval.dataset && spec.eval.dataset->type != "demo";
  // Built again at every evaluation (the same batches each time); built once here so that an
  // eval dataset that cannot serve every rank fails the job at start, not at the first eval.
  if (spec.eval.enabled && eval_datasets)
    make_stream({*spec.eval.dataset}, spec.train.seed + 999, 0).reset();

  // --- the step and its state ---------------------------------------------------------------
  StepHyper hyper;
  hyper.schedule = {LrSchedule::ParseKind(spec.train.schedule), spec.train.lr,
                    spec.train.warmup_steps, spec.train.steps, spec.train.min_lr};
  hyper.adamw = {spec.train.beta1, spec.train.beta2, spec.train.eps, spec.train.weight_decay};
  hyper.max_grad_norm = spec.train.max_grad_norm;
  hyper.ema_decay = spec.train.ema_decay;
  hyper.loss_weights = {spec.train.ce_weight, spec.train.mse_weight};
  ShardedStep step(*model, engine, hyper);
  const uint64_t rank_seed =
      spec.train.seed * static_cast<uint64_t>(env.world_size) + env.rank;  // official
  at::Generator noise_gen = MakeGenerator(device, rank_seed);
  at::Generator vae_gen = MakeGenerator(device, rank_seed + 1000003);

  const std::string job_dir = (fs::path(o.checkpoint_root) / o.job_id).string();
  ckpt::CheckpointStore store(job_dir);
  std::optional<std::string> resume_from;
  if (o.resume == "auto") {
    std::vector<std::string> problems;
    resume_from = store.ResolveResume(*world, &problems);
    for (const auto& p : problems) progress.Log("skipping checkpoint: " + p);
  } else if (o.resume != "none") {
    ckpt::CheckpointStore::Validate(o.resume);
    resume_from = o.resume;
  }
  int64_t last_checkpoint = -1;
  if (resume_from) {
    const nlohmann::json state = ckpt::CheckpointStore::ReadTrainState(*resume_from);
    const int saved_world = state.at("world_size").get<int>();
    const int64_t saved_step = state.at("step").get<int64_t>();
    std::vector<std::map<std::string, at::Tensor>> saved;
    bool loaded = false;
    if (saved_world == env.world_size) {
      auto mine =
          io::SafetensorsFile::Open(
              (fs::path(*resume_from) / ckpt::CheckpointStore::RankFileName(env.rank, saved_world))
                  .string())
              ->ReadAll();
      if (engine.SameGeometry(mine)) {
        engine.LoadOwnShard(mine);
        loaded = true;
      }
    }
    if (!loaded) {
      for (int r = 0; r < saved_world; ++r) {
        saved.push_back(
            io::SafetensorsFile::Open(
                (fs::path(*resume_from) / ckpt::CheckpointStore::RankFileName(r, saved_world))
                    .string())
                ->ReadAll());
      }
      engine.LoadShardState(saved);
    }
    step.set_steps_done(saved_step);
    const auto& ranks = state.at("ranks");
    if (saved_world == env.world_size) {
      const auto& me = ranks.at(env.rank);
      data.set_position(std::stoll(me.at("data_position").get<std::string>()));
      if (stream) stream->Restore(SavedDataStates(ranks));
      SetStateHex(noise_gen, me.at("noise_rng").get<std::string>());
      SetStateHex(vae_gen, me.at("vae_rng").get<std::string>());
    } else {
      // Another world size: continue at the first global sample index every saved rank had
      // reached (samples past it that some rank had drawn are seen again, none is skipped).
      int64_t min_position = INT64_MAX;
      for (const auto& r : ranks)
        min_position =
            std::min<int64_t>(min_position, std::stoll(r.at("data_position").get<std::string>()));
      const int64_t global = min_position * saved_world;
      data.set_position((global + env.world_size - 1) / env.world_size);
      if (stream) stream->Restore(SavedDataStates(ranks));  // the reshard rule of DATA.md
      noise_gen = MakeGenerator(device, rank_seed + 7919 * static_cast<uint64_t>(saved_step));
      vae_gen =
          MakeGenerator(device, rank_seed + 1000003 + 7919 * static_cast<uint64_t>(saved_step));
    }
    last_checkpoint = saved_step;
    progress.Log("resumed from " + *resume_from + " at step " + std::to_string(saved_step) +
                 (saved_world == env.world_size
                      ? ""
                      : " (resharded from " + std::to_string(saved_world) + " ranks)"));
  }
  const std::string config_hash = [&] {
    ckpt::Sha256 h;
    h.Update(config::JobSpecToYaml(spec));
    return h.HexFinish();
  }();

  auto write_checkpoint = [&](int64_t at_step) {
    std::map<std::string, std::string> meta = {{"data_position", std::to_string(data.position())},
                                               {"noise_rng", StateHex(noise_gen)},
                                               {"vae_rng", StateHex(vae_gen)}};
    if (stream) meta["data_state"] = stream->State().dump();
    nlohmann::json state = {{"job_id", o.job_id},
                            {"attempt", o.attempt},
                            {"stage", stage},
                            {"total_steps", spec.train.steps},
                            {"config_hash", config_hash},
                            {"shard_group_size", fo.shard_group_size},
                            {"lr", hyper.schedule.At(at_step)}};
    auto result =
        store.Write(*world, at_step, engine.ShardState(), meta, state, spec.checkpoint.keep_last);
    last_checkpoint = at_step;
    progress.Emit({{"event", "checkpoint"},
                   {"step", at_step},
                   {"path", result.path},
                   {"bytes", result.bytes},
                   {"seconds", result.seconds}});
  };

  progress.Emit({{"event", "started"},
                 {"rank", env.rank},
                 {"world_size", env.world_size},
                 {"step", step.steps_done()},
                 {"total_steps", spec.train.steps},
                 {"attempt", o.attempt},
                 {"device", device.str()}});

  // --- the loop ----------------------------------------------------------------------------
  const at::ScalarType dtype = fo.compute_dtype;
  auto next_batch = [&]() {
    data::PackedSequence packed = stream ? stream->Next().packed : data.Next();
    PackedBatch b = packed.batch.To(device, dtype);
    if (vae && packed.padded_images.defined()) {
      at::NoGradGuard no_grad;
      vae::VaeEncodeOptions eo;
      eo.generator = vae_gen;
      // Float32, as the official bf16 step's posterior sample (docs/TRAINER_CONTRACT.md).
      b.padded_latent = vae->Encode(packed.padded_images.to(device), eo).to(at::kFloat);
    } else {
      b.patchified_vae_latent_shapes.clear();
    }
    return b;
  };
  SetInTrainingLoop(true);
  while (step.steps_done() < spec.train.steps) {
    at::Tensor stop = at::full({1}, StopRequested() ? 1.0 : 0.0,
                               at::TensorOptions().dtype(at::kFloat).device(device));
    world->AllReduceSum(stop);
    if (stop.item<float>() > 0) {
      if (last_checkpoint != step.steps_done()) write_checkpoint(step.steps_done());
      progress.Log("stopped by signal at step " + std::to_string(step.steps_done()) +
                   " after a checkpoint");
      return kExitStopped;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<PackedBatch> micro;
    for (int64_t m = 0; m < spec.train.grad_accum; ++m) micro.push_back(next_batch());
    StepReport r = step.Run(micro, noise_gen);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.step % spec.train.log_every == 0 || r.step == spec.train.steps || r.step == 1) {
      double ce = 0, mse = 0;
      for (double v : r.micro_ce) ce += v / r.micro_ce.size();
      for (double v : r.micro_mse) mse += v / r.micro_mse.size();
      const double mfu = device.is_cuda()
                             ? BagelMfuFlops(config, r.global_tokens, r.sum_sample_len_sq) /
                                   seconds / (kGpuBf16PeakFlops * env.world_size)
                             : 0.0;
      nlohmann::json event = {{"event", "step"},
                              {"step", r.step},
                              {"total_steps", spec.train.steps},
                              {"ce", ce},
                              {"mse", mse},
                              {"lr", r.lr},
                              {"grad_norm", r.grad_norm},
                              {"tokens", r.global_tokens},
                              {"tokens_per_s", r.global_tokens / seconds},
                              {"step_time_s", seconds},
                              {"mfu", mfu},
                              {"mem_bytes", MemoryBytes(device)},
                              {"host_mem_bytes", HostPeakBytes()},
                              {"ce_tokens", r.global_ce_tokens},
                              {"mse_tokens", r.global_mse_tokens}};
      if (stream) event.update(SkippedRecordsOfAllRanks(stream->Stats(), *world, device));
      progress.Step(event);
    }
    if (r.step % spec.checkpoint.every_steps == 0 || r.step == spec.train.steps)
      write_checkpoint(r.step);
    if (spec.eval.enabled && (r.step % spec.eval.every_steps == 0 || r.step == spec.train.steps)) {
      data::DemoDataOptions val_options = data_options;
      val_options.seed = data_options.seed + 999;
      data::DemoData val(val_options, packer, tokens);
      auto val_stream =
          eval_datasets ? make_stream({*spec.eval.dataset}, spec.train.seed + 999, 0) : nullptr;
      std::vector<PackedBatch> batches;
      for (int64_t b = 0; b < spec.eval.max_batches; ++b) {
        data::PackedSequence packed = val_stream ? val_stream->Next().packed : val.Next();
        PackedBatch vb = packed.batch.To(device, dtype);
        if (vae && packed.padded_images.defined()) {
          at::NoGradGuard no_grad;
          vb.padded_latent = vae->EncodeMean(packed.padded_images.to(device)).to(at::kFloat);
        } else {
          vb.patchified_vae_latent_shapes.clear();
        }
        batches.push_back(std::move(vb));
      }
      at::Generator eval_gen = MakeGenerator(device, spec.train.seed + 17);
      auto [val_ce, val_mse] = step.Evaluate(batches, eval_gen);
      nlohmann::json e = {{"event", "eval"}, {"step", r.step}};
      if (!std::isnan(val_ce)) e["val_ce"] = val_ce;
      if (!std::isnan(val_mse)) e["val_mse"] = val_mse;
      if (eval_samples) {
        // Every rank takes part in the gather, only rank 0 keeps the weights and samples; the
        // others wait for it without the collective timeout (sampling may take longer).
        const auto weights =
            engine.GatherFull(/*ema=*/spec.train.ema_decay > 0, /*keep=*/env.rank == 0);
        if (env.rank == 0) {
          EvalSampleOptions so = *eval_samples;
          so.out_dir = (fs::path(job_dir) / "eval" / ckpt::StepDirName(r.step)).string();
          so.dtype = dtype;
          const auto t0 = std::chrono::steady_clock::now();
          e["images"] = WriteEvalSamples(model->config(), weights, vae, device, so);
          e["sample_seconds"] =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        world->WaitForRankZero("eval-samples-" + std::to_string(r.step));
      }
      progress.Emit(e);
    }
  }
  if (last_checkpoint != step.steps_done()) write_checkpoint(step.steps_done());
  SetInTrainingLoop(false);
  nlohmann::json done = {
      {"event", "done"},
      {"step", step.steps_done()},
      {"final_checkpoint", (fs::path(job_dir) / ckpt::StepDirName(step.steps_done())).string()}};
  if (spec.checkpoint.export_hf) {
    ShardedExportOptions eo;
    eo.dir = (fs::path(job_dir) / "hf").string();
    eo.ema = spec.train.ema_decay > 0;
    eo.vae_path = stage == 2 ? spec.model.vae : "";
    eo.tokenizer_from = tokenizer_dir;
    ExportShardedHf(engine, model->config(), eo);
    done["hf_export"] = eo.dir;
  }
  progress.Emit(done);
  return kExitDone;
}

}  // namespace bagel::train
