#include "worker/fsdp/unit_plan.h"

#include <c10/util/Exception.h>

#include <set>

#include "model/io/state_dict_adapter.h"

namespace bagel::fsdp {
namespace {

void Collect(const torch::nn::Module& module, const std::string& prefix, UnitPlan& unit,
             std::set<const c10::TensorImpl*>& seen) {
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    unit.params.push_back({prefix + item.key(), item.value()});
    seen.insert(item.value().unsafeGetTensorImpl());
  }
}

}  // namespace

std::vector<UnitPlan> PlanBagelUnits(const BagelForUnifiedMultimodal& model) {
  std::vector<UnitPlan> units;
  std::set<const c10::TensorImpl*> seen;
  const BagelModel& m = *model.model;
  if (m.vit_model) {
    const auto& encoder = *m.vit_model->vision_model->encoder;
    for (int64_t i = 0; i < encoder.num_layers(); ++i) {
      UnitPlan u{"vit." + std::to_string(i), &encoder.layer(i), {}};
      Collect(encoder.layer(i), "vit_model.vision_model.encoder.layers." + std::to_string(i) + ".",
              u, seen);
      units.push_back(std::move(u));
    }
  }
  const auto& lm = *m.language_model->model;
  for (int64_t i = 0; i < lm.num_layers(); ++i) {
    UnitPlan u{"llm." + std::to_string(i), &lm.layer(i), {}};
    Collect(lm.layer(i), "language_model.model.layers." + std::to_string(i) + ".", u, seen);
    units.push_back(std::move(u));
  }
  UnitPlan root{"root", nullptr, {}};
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    if (seen.count(item.value().unsafeGetTensorImpl())) continue;
    root.params.push_back({io::NativeKeyToCheckpoint(item.key()), item.value()});
  }
  units.push_back(std::move(root));
  return units;
}

}  // namespace bagel::fsdp
