// What a LoRA job's adapters were trained on. A LoRA checkpoint holds only the adapters and their
// optimizer state; the frozen base is read again from model.init_from at every start, so each
// checkpoint records the base (the weights file's path and SHA-256, or the preset and its seed)
// and the adapter geometry, and a resume against another base is refused.
#pragma once

#include <nlohmann/json.hpp>

#include "config/job_spec.h"
#include "worker/dist/communicator.h"

namespace bagel::train {

// {"base": path or "preset:<name>", "sha256": hex ("" for a preset), "seed", "rank", "alpha",
// "targets"}. Rank 0 hashes the base weights file (one read) and every rank receives the digest
// through `world`: collective.
nlohmann::json LoraBaseIdentity(const config::JobSpec& spec, dist::Communicator& world);

// Throws c10::Error naming what differs when a checkpoint's train_state ("lora") was not
// written on the same base with the same adapters as `current`.
void CheckLoraBase(const nlohmann::json& train_state, const nlohmann::json& current);

}  // namespace bagel::train
