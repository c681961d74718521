#include "worker/plan/memory_plan.h"

#include <c10/util/Exception.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/io/safetensors.h"
#include "worker/fsdp/unit_plan.h"
#include "worker/trainer/job_model.h"

namespace bagel::plan {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One unit's parameter counts and, for this geometry, its per-rank shard lengths.
struct UnitSize {
  std::string name;
  int64_t trainable = 0, frozen = 0;  // parameters
  int64_t trainable_shard = 0, frozen_shard = 0;
};

// Saved-for-backward elements per token of one layer, as the model's ops keep them (counted
// from model/qwen2 and model/siglip: norms keep their input, projections their input, the
// attention its q, k, v, output and log-sum-exp, the MLP its three intermediate products).
// kLlmHidden etc. are the multiples of each width.
constexpr double kLlmHidden = 11, kLlmKv = 4, kLlmInter = 4;
constexpr double kVitHidden = 9, kVitInter = 3;

int64_t LlmLayerElementsPerToken(const BagelConfig& c) {
  const double h = static_cast<double>(c.llm.hidden_size);
  const double kv = static_cast<double>(c.llm.num_key_value_heads * c.llm.head_dim());
  const double i = static_cast<double>(c.llm.intermediate_size);
  return static_cast<int64_t>(kLlmHidden * h + kLlmKv * kv + kLlmInter * i);
}

int64_t VitLayerElementsPerToken(const BagelConfig& c) {
  return static_cast<int64_t>(kVitHidden * static_cast<double>(c.vit.hidden_size) +
                              kVitInter * static_cast<double>(c.vit.intermediate_size));
}

// Tokens of a max_num_tokens pack that go through the ViT: half when a group has images
// (docs/MEMORY.md), none for text and T2I data.
int64_t VitTokens(const config::JobSpec& spec, bool has_vit) {
  if (!has_vit) return 0;
  for (const auto& g : spec.data.groups) {
    if (g.type == "vlm_sft" || g.type == "edit" || g.type == "demo") {
      return spec.data.max_num_tokens / 2;
    }
  }
  return 0;
}

struct Activations {
  int64_t with_checkpointing = 0, without = 0;
};

Activations ActivationBytes(const config::JobSpec& spec, const BagelConfig& c, int64_t cd,
                            bool has_vit) {
  const int64_t n = spec.data.max_num_tokens;
  const int64_t vit_n = VitTokens(spec, has_vit);
  const int64_t llm_layers = c.llm.num_hidden_layers;
  const int64_t vit_layers = has_vit ? c.vit.num_hidden_layers : 0;
  const int64_t llm_layer = n * LlmLayerElementsPerToken(c) * cd;
  const int64_t vit_layer = vit_n * VitLayerElementsPerToken(c) * cd;
  // Outside the layers: embeddings and the final norm keep [n, hidden] tensors; the fused
  // cross-entropy keeps one float32 chunk of logits (at most 512 MiB, model/losses) and, in
  // backward, a float32 lm_head gradient accumulator and the hidden-state gradient.
  const int64_t h = c.llm.hidden_size, vocab = c.llm.vocab_size;
  const int64_t chunk_rows = std::max<int64_t>(16, (512ll << 20) / (vocab * 4));
  const int64_t root = 3 * n * h * cd + std::min(n, chunk_rows) * vocab * 4 + vocab * h * 4 +
                       n * h * cd + vit_n * c.vit.hidden_size * cd * 2;
  Activations a;
  a.without = llm_layers * llm_layer + vit_layers * vit_layer + root;
  // Checkpointed: each layer keeps only its input; one layer is recomputed at a time.
  a.with_checkpointing = llm_layers * n * h * cd + vit_layers * vit_n * c.vit.hidden_size * cd +
                         std::max(llm_layer, vit_layer) + root;
  return a;
}

// Bytes per element of the weights file an HF init reads (2 when it cannot be read: the
// released BAGEL-7B-MoT is bf16).
int64_t InitFileElementBytes(const config::JobSpec& spec) {
  if (spec.model.init_from.kind != config::InitFrom::Kind::kPath) return 2;
  const std::string file = train::InitWeightsFile(spec.model.init_from.path);
  if (!std::filesystem::exists(file)) return 2;
  const auto f = io::SafetensorsFile::Open(file);  // alive while iterated
  for (const auto& [name, e] : f->entries()) return static_cast<int64_t>(c10::elementSize(e.dtype));
  return 2;
}

int64_t VaeBytes(const config::JobSpec& spec) {
  if (spec.model.stage != 2) return 0;
  // The FLUX VAE every Stage 2 rank holds whole in float32 (83.8M parameters when the file is
  // not at hand).
  int64_t params = 83819683;
  if (!spec.model.vae.empty() && std::filesystem::exists(spec.model.vae)) {
    params = 0;
    const auto file = io::SafetensorsFile::Open(spec.model.vae);  // alive while iterated
    for (const auto& [name, e] : file->entries()) {
      params += e.NumElements();
    }
  }
  return params * 4;
}

}  // namespace

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

MemoryPlan PlanMemory(const config::JobSpec& spec, const PlanOptions& options) {
  TORCH_CHECK(options.world_size >= 1, "--world-size must be at least 1");
  MemoryPlan plan;
  plan.world_size = options.world_size;
  plan.device = spec.parallel.gpus_per_worker > 0 ? "cuda" : "cpu";
  const bool gpu = plan.device == "cuda";
  plan.precision = spec.train.precision;
  plan.activation_checkpointing = spec.train.activation_checkpointing.value_or(gpu);
  plan.optimizer_offload = spec.train.optimizer_offload;
  plan.max_num_tokens = spec.data.max_num_tokens;
  plan.gpu_memory_gib = options.gpu_memory_gib;
  const int g = spec.parallel.sharding == "hybrid"
                    ? static_cast<int>(spec.parallel.shard_group_size)
                    : options.world_size;
  TORCH_CHECK(g >= 1 && options.world_size % g == 0, "parallel.shard_group_size ", g,
              " does not divide the world size ", options.world_size);
  plan.shard_group_size = g;

  const BagelConfig config = train::JobModelConfig(spec);
  BagelForUnifiedMultimodal model(config, at::TensorOptions().device(at::kMeta));
  train::ApplyTrainableSettings(spec, model);
  std::vector<UnitSize> units;
  int64_t largest_param = 0;
  for (const fsdp::UnitPlan& u : fsdp::PlanBagelUnits(model)) {
    UnitSize s{u.name};
    for (const auto& p : u.params) {
      (p.param.requires_grad() ? s.trainable : s.frozen) += p.param.numel();
      largest_param = std::max(largest_param, p.param.numel());
    }
    s.trainable_shard = CeilDiv(s.trainable, g);
    s.frozen_shard = CeilDiv(s.frozen, g);
    plan.trainable_params += s.trainable;
    plan.total_params += s.trainable + s.frozen;
    units.push_back(s);
  }
  const int64_t cd = spec.train.precision == "bf16" ? 2 : 4;
  const bool offload = spec.train.optimizer_offload;

  // The engine's shards (worker/fsdp/flat_unit.h).
  int64_t master = 0, compute = 0, frozen = 0, grads = 0;
  for (const UnitSize& u : units) {
    master += 4 * u.trainable_shard;
    if (offload || cd != 4) compute += cd * u.trainable_shard;  // else the master is the shard
    frozen += cd * u.frozen_shard;
    grads += 4 * u.trainable_shard;
  }
  const int64_t moments = 2 * master, ema = master;
  // Gathered: the root unit stays unsharded for the whole micro-step; a layer unit is gathered
  // with the next one in flight, and in backward its parameter gradients (compute dtype), the
  // flattened copy and the reduced shard exist beside it.
  auto full = [&](const UnitSize& u) { return cd * (u.trainable_shard + u.frozen_shard) * g; };
  auto grad_buffers = [&](const UnitSize& u) {
    if (u.trainable == 0) return int64_t{0};
    return cd * u.trainable + cd * u.trainable_shard * g + cd * u.trainable_shard +
           (cd != 4 ? 4 * u.trainable_shard : 0);
  };
  const UnitSize& root = units.back();
  int64_t layers_peak = 0;
  for (size_t j = 0; j + 1 < units.size(); ++j) {
    const int64_t next = j + 2 < units.size() ? full(units[j + 1]) : 0;
    const int64_t prev = j > 0 ? full(units[j - 1]) : 0;
    layers_peak =
        std::max(layers_peak, full(units[j]) + std::max(next, prev + grad_buffers(units[j])));
  }
  // A shard group of one keeps every unit resident (worker/fsdp/flat_unit.h): nothing is
  // gathered and the parameters are the shards already counted; only a unit's parameter
  // gradients live beside them until they are added into the shard (with replicas, also the
  // flattened copy and the all-reduced one), the previous unit's reduce still in flight.
  const bool resident = g == 1;
  const bool replicas = options.world_size > 1;
  auto resident_grads = [&](const UnitSize& u) {
    return u.trainable == 0 ? int64_t{0} : cd * u.trainable * (replicas ? 3 : 1);
  };
  int64_t resident_peak = 0;
  for (size_t j = 0; j < units.size(); ++j) {
    const int64_t prev = j > 0 ? resident_grads(units[j - 1]) : 0;
    resident_peak = std::max(resident_peak, resident_grads(units[j]) + prev);
  }
  const int64_t gathered =
      resident ? resident_peak : full(root) + std::max(layers_peak, grad_buffers(root));

  const Activations act =
      ActivationBytes(spec, config, cd, static_cast<bool>(model.model->vit_model));
  const int64_t activations = plan.activation_checkpointing ? act.with_checkpointing : act.without;
  plan.activations_bytes_other_checkpointing =
      plan.activation_checkpointing ? act.without : act.with_checkpointing;
  const int64_t vae = VaeBytes(spec);
  const int64_t runtime = options.runtime_bytes >= 0 ? options.runtime_bytes : ResidentBytes();

  // Host side.
  // - Init: from a preset every rank builds the whole model in float32 before sharding it; from
  //   an HF checkpoint each rank maps the file and reads only its shard (the file's dtype), one
  //   parameter's slice converted at a time.
  // - Checkpoints: asynchronous ones copy the whole shard state to (pinned) host memory;
  //   synchronous ones stream it to the file one tensor at a time (a CPU rank's state is host
  //   memory already).
  // - Export: one gathered unit at a time (float32; on a GPU it stays on the device), one
  //   parameter converted to the export dtype and a 64 MiB write buffer, on rank 0.
  const bool from_preset = spec.model.init_from.kind == config::InitFrom::Kind::kPreset;
  int64_t shard_params = 0, largest_unit = 0, largest_field = 0;
  for (const UnitSize& u : units) {
    shard_params += u.trainable_shard + u.frozen_shard;
    largest_unit = std::max(largest_unit, (u.trainable_shard + u.frozen_shard) * g);
    largest_field = std::max(largest_field, 4 * u.trainable_shard + cd * u.frozen_shard);
  }
  int64_t largest_shard = 0;  // a unit's shard: the most one parameter's converted slice can be
  for (const UnitSize& u : units)
    largest_shard = std::max(largest_shard, u.trainable_shard + u.frozen_shard);
  const int64_t init_host = from_preset ? 4 * plan.total_params
                                        : InitFileElementBytes(spec) * shard_params +
                                              4 * std::min(largest_param, largest_shard);
  const int64_t state_bytes = master + moments + ema + frozen;
  const bool async = spec.checkpoint.async.value_or(gpu);
  // A LoRA checkpoint holds no frozen base (read again from the base at every start).
  const int64_t saved_bytes = master + moments + ema + (spec.lora.enabled ? 0 : frozen);
  const int64_t checkpoint_host = async ? saved_bytes : (gpu ? largest_field : 0);
  const int64_t export_elem = spec.checkpoint.export_dtype == "fp32" ? 4 : 2;
  const int64_t export_gathered = gpu ? 0 : 4 * largest_unit;  // on every rank (the gathers)
  const int64_t export_rank0 = export_gathered + export_elem * largest_param + (int64_t{64} << 20);
  const int64_t offloaded = offload ? master + moments + ema : 0;

  for (int r = 0; r < options.world_size; ++r) {
    RankPlan p;
    p.rank = r;
    p.params_bytes = master + compute + frozen + vae;
    p.grads_bytes = grads;
    p.optimizer_bytes = moments;
    p.ema_bytes = ema;
    p.gathered_bytes = gathered;
    p.activations_bytes = activations;
    p.offloaded_bytes = offloaded;
    const int64_t on_device = p.params_bytes + p.grads_bytes + p.optimizer_bytes + p.ema_bytes +
                              p.gathered_bytes + p.activations_bytes - offloaded;
    p.init_host_bytes = init_host;
    p.checkpoint_host_bytes = checkpoint_host;
    p.export_host_bytes = spec.checkpoint.export_hf ? (r == 0 ? export_rank0 : export_gathered) : 0;
    if (gpu) {
      p.device_bytes = on_device;
      p.host_bytes =
          runtime + offloaded + std::max({init_host, checkpoint_host, p.export_host_bytes});
    } else {
      // The device is the host: the training peak (with an asynchronous checkpoint's copy), or
      // the preset init's full model beside the state, whichever is higher (the export comes
      // after the last reported step).
      p.runtime_bytes = runtime;
      p.device_bytes = runtime + std::max(on_device + (async ? saved_bytes : 0),
                                          (from_preset ? init_host : 0) + state_bytes);
      p.host_bytes =
          runtime + std::max(p.device_bytes - runtime, p.export_host_bytes + state_bytes);
    }
    plan.ranks.push_back(p);
  }
  // CUDA context and allocator slack beside what the allocator reports.
  plan.reserve_bytes = gpu ? (1ll << 30) : 0;
  const double limit = options.gpu_memory_gib * static_cast<double>(1ll << 30);
  plan.fits = static_cast<double>(plan.ranks.front().device_bytes + plan.reserve_bytes) <= limit;
  return plan;
}

nlohmann::json MemoryPlan::ToJson() const {
  nlohmann::json ranks_json = nlohmann::json::array();
  for (const RankPlan& p : ranks) {
    ranks_json.push_back({{"rank", p.rank},
                          {"params_bytes", p.params_bytes},
                          {"grads_bytes", p.grads_bytes},
                          {"optimizer_bytes", p.optimizer_bytes},
                          {"ema_bytes", p.ema_bytes},
                          {"gathered_bytes", p.gathered_bytes},
                          {"activations_bytes", p.activations_bytes},
                          {"runtime_bytes", p.runtime_bytes},
                          {"offloaded_bytes", p.offloaded_bytes},
                          {"device_bytes", p.device_bytes},
                          {"host_bytes", p.host_bytes},
                          {"init_host_bytes", p.init_host_bytes},
                          {"checkpoint_host_bytes", p.checkpoint_host_bytes},
                          {"export_host_bytes", p.export_host_bytes}});
  }
  return {{"device", device},
          {"world_size", world_size},
          {"shard_group_size", shard_group_size},
          {"precision", precision},
          {"activation_checkpointing", activation_checkpointing},
          {"optimizer_offload", optimizer_offload},
          {"max_num_tokens", max_num_tokens},
          {"trainable_params", trainable_params},
          {"total_params", total_params},
          {"activations_bytes_other_checkpointing", activations_bytes_other_checkpointing},
          {"gpu_memory_gib", gpu_memory_gib},
          {"reserve_bytes", reserve_bytes},
          {"fits", fits},
          {"ranks", ranks_json}};
}

}  // namespace bagel::plan
