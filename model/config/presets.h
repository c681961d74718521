// Named model shapes of docs/BENCHMARKS.md: tiny (the golden cases' model), small, medium
// (Qwen2-1.5B + SigLIP-so400m shapes), and bagel-7b (BAGEL-7B-MoT, BAGEL.md §1.2). Unprepared:
// call PrepareConfigForStage before building.
#pragma once

#include <string>
#include <vector>

#include "model/config/bagel_config.h"

namespace bagel {

BagelConfig PresetConfig(const std::string& name);
std::vector<std::string> PresetNames();

}  // namespace bagel
