// Training stages. Stage 1 trains understanding only (cross-entropy); Stage 2 trains
// understanding and generation together (cross-entropy plus flow-matching MSE).
#pragma once

#include <string>
#include <variant>

namespace bagel {

// A stage as users write it: 1, 2, "stage1" or "stage2".
using StageValue = std::variant<int, std::string>;

// Normalises a stage to 1 or 2; anything else throws c10::Error naming the value.
int NormalizeStage(const StageValue& stage);

// Parses a command-line or YAML spelling: "1", "2", "stage1", "stage2".
int ParseStage(const std::string& text);

}  // namespace bagel
