// Learning-rate schedules of the official trainer (BAGEL.md §4): "constant" = linear warmup
// (factor step / warmup_steps while step < warmup_steps, so with a warmup the first step has
// lr 0) then constant; "cosine" = the same warmup, then cosine decay to min_lr at total_steps.
#pragma once

#include <cstdint>
#include <string>

namespace bagel::train {

struct LrSchedule {
  enum class Kind { kConstant, kCosine };
  Kind kind = Kind::kConstant;
  double lr = 1e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr = 1e-7;

  // The learning rate of optimizer step `step` (0-based).
  double At(int64_t step) const;
  static Kind ParseKind(const std::string& name);  // "constant" | "cosine"
};

}  // namespace bagel::train
