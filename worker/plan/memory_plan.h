// What a training job will hold in memory on each rank, computed before anything is allocated:
// the model of the spec is built on the meta device, cut into the sharded engine's units
// (worker/fsdp/unit_plan.h) with the spec's freezing, and every buffer the engine, the model's
// activations and the trainer's checkpoint/export paths keep is counted per rank, as the code
// allocates it. docs/MEMORY.md describes each term and its assumptions.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "config/job_spec.h"

namespace bagel::plan {

struct PlanOptions {
  int world_size = 1;
  double gpu_memory_gib = 80;
  // What a rank's process holds before the model (libraries, allocator, tokenizer): counted in
  // device_bytes on CPU ranks, where the device is the host. < 0: this process's resident size.
  int64_t runtime_bytes = -1;
};

struct RankPlan {
  int rank = 0;
  int64_t params_bytes = 0;     // master shards (fp32) + compute-dtype shards + frozen + VAE
  int64_t grads_bytes = 0;      // fp32 gradient shards
  int64_t optimizer_bytes = 0;  // AdamW moments
  int64_t ema_bytes = 0;
  int64_t gathered_bytes = 0;     // unsharded units alive at once, with their gradients
  int64_t activations_bytes = 0;  // for data.max_num_tokens, checkpointing as the spec says
  int64_t runtime_bytes = 0;      // CPU ranks: the process before the model
  int64_t device_bytes = 0;       // the sum of what lives on the training device
  int64_t host_bytes = 0;         // peak host memory (init, checkpoint, export)
  // Its parts: what init, a checkpoint and the HF export each hold in host memory at most.
  int64_t init_host_bytes = 0, checkpoint_host_bytes = 0, export_host_bytes = 0;
  // Parts of the terms above that live in host memory (optimizer offload).
  int64_t offloaded_bytes = 0;
};

struct MemoryPlan {
  std::string device;  // "cuda" or "cpu"
  int world_size = 1;
  int shard_group_size = 1;
  std::string precision;
  bool activation_checkpointing = false;
  bool optimizer_offload = false;
  int64_t max_num_tokens = 0;
  int64_t trainable_params = 0;
  int64_t total_params = 0;
  // activations_bytes had checkpointing been the other way.
  int64_t activations_bytes_other_checkpointing = 0;
  double gpu_memory_gib = 80;
  int64_t reserve_bytes = 0;  // CUDA context and allocator slack, added before comparing
  bool fits = false;
  std::vector<RankPlan> ranks;

  nlohmann::json ToJson() const;
};

// Throws c10::Error naming the problem (an unresolved init_from.job, unreadable config files).
MemoryPlan PlanMemory(const config::JobSpec& spec, const PlanOptions& options);

// This process's resident set size in bytes (/proc/self/statm).
int64_t ResidentBytes();

}  // namespace bagel::plan
