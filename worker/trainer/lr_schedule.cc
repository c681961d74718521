#include "worker/trainer/lr_schedule.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace bagel::train {

double LrSchedule::At(int64_t step) const {
  if (step < warmup_steps)
    return lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  if (kind == Kind::kConstant) return lr;
  // transformers' get_cosine_with_min_lr_schedule_with_warmup (num_cycles 0.5).
  const double progress = static_cast<double>(step - warmup_steps) /
                          static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  const double factor = std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * std::min(progress, 1.0))));
  return min_lr + (lr - min_lr) * factor;
}

LrSchedule::Kind LrSchedule::ParseKind(const std::string& name) {
  if (name == "constant") return Kind::kConstant;
  if (name == "cosine") return Kind::kCosine;
  TORCH_CHECK(false, "lr schedule must be 'constant' or 'cosine', got '", name, "'");
}

}  // namespace bagel::train
