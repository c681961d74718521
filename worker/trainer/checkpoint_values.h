// Where the sharded engine's initial master values come from when training starts from an
// HF-layout checkpoint file (checkpoint key names), with the state-dict adapter's rules:
// shapes checked, a Conv2d patch embedding converted, the sin-cos tables recomputed, keys of
// the other stage dropped, and -- starting Stage 2 from a Stage 1 checkpoint -- each missing
// *_moe_gen parameter copied from its understanding twin and the other missing keys freshly
// initialised (reported in LoadReport::initialized). Strict mode refuses unexpected or missing
// keys as LoadCheckpoint does.
#pragma once

#include <functional>
#include <memory>

#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/io/safetensors.h"
#include "model/io/state_dict_adapter.h"
#include "worker/fsdp/flat_unit.h"

namespace bagel::train {

struct CheckpointValues {
  std::function<at::Tensor(const fsdp::Slot&)> value;  // full value of a slot (may be a lazy view)
  io::LoadReport report;
};

// `model` gives the expected names and shapes (it may live on the meta device).
CheckpointValues ValuesFromCheckpoint(std::shared_ptr<io::SafetensorsFile> file,
                                      const BagelForUnifiedMultimodal& model, bool strict,
                                      uint64_t init_seed);

}  // namespace bagel::train
