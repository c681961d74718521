// initialize_weights() of BAGEL.md §9, from one seeded CPU generator so the result is the same
// on any device and for any number of ranks:
//   Qwen2: Linear and embedding weights ~ N(0, initializer_range), biases 0, the padding row 0,
//          RMSNorm weights 1;
//   SigLIP: patch embedding lecun-normal (truncated), position table ~ N(0, 1/sqrt(hidden)),
//          attention xavier-uniform with zero bias, MLP xavier-uniform with bias ~ N(0, 1e-6),
//          LayerNorm 1 / 0;
//   connector, time_embedder, vae2llm: PyTorch's default Linear init (U(+-1/sqrt(fan_in)));
//   the sin-cos tables recomputed; llm2vae zero.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "model/bagel/bagel_model.h"

namespace bagel {

// Initialises the parameters of `model` (checkpoint names, e.g. "connector.fc1.weight"); when
// `only` is given, just those keys (the draws for the others are still made, so a key's value
// does not depend on which others were requested).
void InitializeBagelWeights(BagelModel& model, const BagelConfig& config, uint64_t seed,
                            const std::set<std::string>* only = nullptr);

// The initial value of one parameter by the same recipe, drawn from a generator seeded with
// (seed, key) -- independent of every other key, so a sharded run can initialise exactly the
// keys a checkpoint lacks without building the whole model. `fan_in` is the input width of the
// Linear the key belongs to (used by PyTorch's default Linear init).
at::Tensor InitialValueForKey(const std::string& key, at::IntArrayRef shape,
                              const BagelConfig& config, uint64_t seed, int64_t fan_in);

}  // namespace bagel
