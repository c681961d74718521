// The job spec: what a user submits (YAML), validated field by field. The format and every
// default are documented in config/JOB_SPEC.md. Pure C++ (yaml-cpp, no LibTorch, no gRPC): the
// coordinator validates specs at submit and bagel-train reads them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bagel::config {

// One validation problem: the field path ("train.lr", "data.groups[1].weight"), the value as
// written, and what was expected.
struct FieldError {
  std::string path;
  std::string value;
  std::string expected;
};

struct InitFrom {
  enum class Kind { kPath, kJob, kPreset };
  Kind kind = Kind::kPreset;
  std::string path;             // kPath: an HF-layout checkpoint directory
  std::string job;              // kJob: another job's id (its final checkpoint)
  std::string preset = "tiny";  // kPreset: tiny | small | medium
  uint64_t seed = 4396;         // kPreset
};

struct ModelSpec {
  int stage = 1;
  InitFrom init_from;
  std::string vae;  // ae.safetensors; required for stage 2
  bool freeze_llm = false;
  bool freeze_vit = false;
  bool freeze_und = false;
  // MoT hidden states in grouped order (one permutation per forward; same results).
  bool grouped_routing = true;
  std::optional<int64_t> max_latent_size;
};

struct TransformSpec {
  int64_t max_size = 0;
  int64_t min_size = 0;
  int64_t stride = 0;
  int64_t max_pixels = 0;
};

struct DataGroupSpec {
  std::string name;
  std::string type;  // vlm_sft | t2i | edit | text | demo
  std::vector<std::string> paths;
  std::string image_root;
  std::string parquet_info;
  double weight = 1.0;
  bool mandatory = false;
  std::optional<int64_t> num_used_data;
  uint64_t shuffle_seed = 42;
  TransformSpec vit_transform{980, 378, 14, 2007040};
  TransformSpec vae_transform{1024, 512, 16, 14450688};
};

struct CfgDropout {
  double text = 0.1;
  double vit = 0.4;
  double vae = 0.1;
};

struct DataSpec {
  std::vector<DataGroupSpec> groups;
  std::string tokenizer;  // default: the init_from path
  int64_t expected_num_tokens = 32768;
  int64_t max_num_tokens = 36864;
  int64_t max_num_tokens_per_sample = 16384;
  int64_t prefer_buffer_before = 16384;
  int64_t max_buffer_size = 50;
  CfgDropout cfg_dropout;
  int64_t loader_threads = 2;
};

struct TrainSpec {
  int64_t steps = 0;
  double lr = 1e-4;
  int64_t warmup_steps = 2000;
  std::string schedule = "constant";  // constant | cosine
  double min_lr = 1e-7;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-15;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  double ema_decay = 0.9999;
  double ce_weight = 1.0;
  double mse_weight = 1.0;
  bool ce_loss_reweighting = false;
  double timestep_shift = 1.0;
  int64_t grad_accum = 1;
  uint64_t seed = 4396;
  // Unset: on when the rank trains on a GPU, off on a CPU (the trainer decides).
  std::optional<bool> activation_checkpointing;
  // Master weights, AdamW moments and EMA in host memory, the optimizer step there (ZeRO-Offload).
  bool optimizer_offload = false;
  std::string precision = "bf16";  // bf16 | fp32
  int64_t log_every = 1;
};

struct ParallelSpec {
  int64_t workers = 1;
  int64_t gpus_per_worker = 1;    // 0: one CPU rank per worker
  std::string sharding = "full";  // full | hybrid
  int64_t shard_group_size = 8;
  int64_t collective_timeout_s = 600;

  int64_t ranks_per_worker() const { return gpus_per_worker > 0 ? gpus_per_worker : 1; }
  int64_t world_size() const { return workers * ranks_per_worker(); }
};

struct CheckpointSpec {
  int64_t every_steps = 500;
  int64_t keep_last = 3;
  bool export_hf = true;
  // Written in the background while training goes on. Unset: on for GPU ranks, off on CPU.
  std::optional<bool> async;
  std::string export_dtype = "bf16";  // bf16 | fp32: the HF export's weights
  bool export_model = false;          // model.safetensors (the weights without EMA) beside ema
  double export_shard_gib = 0;        // > 0: also shards of at most this size and an index
};

struct SchedulingSpec {
  int64_t priority = 0;
  int64_t max_restarts = 3;
};

struct EvalSpec {
  bool enabled = false;  // the section is present
  int64_t every_steps = 100;
  std::optional<DataGroupSpec> dataset;
  int64_t max_batches = 4;
  std::vector<std::string> prompts;
  int64_t image_size = 256;
  int64_t num_timesteps = 50;
};

// Low-rank adapters (LoRA) on the model's linear layers, the base frozen (docs/MEMORY.md).
struct LoraSpec {
  bool enabled = false;  // the section is present
  int64_t rank = 16;
  double alpha = 32;
  double dropout = 0;
  // Regexes searched in checkpoint module names ("language_model.model.layers.3.mlp.up_proj");
  // empty: q/k/v/o and gate/up/down of both experts.
  std::vector<std::string> targets;
};

struct JobSpec {
  std::string name;
  ModelSpec model;
  DataSpec data;
  TrainSpec train;
  ParallelSpec parallel;
  CheckpointSpec checkpoint;
  SchedulingSpec scheduling;
  EvalSpec eval;
  LoraSpec lora;
};

struct JobSpecParse {
  JobSpec spec;
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
  // One line per error: "<path>: got <value>, expected <expected>".
  std::string ErrorText() const;
};

// Limits applied by the parser.
inline constexpr size_t kMaxSpecBytes = 1 << 20;
inline constexpr size_t kMaxStringBytes = 4096;
inline constexpr size_t kMaxListEntries = 1024;

// Parses and validates a YAML job spec; every problem is reported (not only the first).
JobSpecParse ParseJobSpec(const std::string& yaml_text);

// The canonical YAML of a spec (every field explicit); ParseJobSpec(JobSpecToYaml(s)) == s.
std::string JobSpecToYaml(const JobSpec& spec);

// Reads a file and parses it; a missing file is reported as an error at path "".
JobSpecParse ReadJobSpecFile(const std::string& path);

}  // namespace bagel::config
