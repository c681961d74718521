// A rank's random generators (flow-matching noise, VAE posterior samples) on its device, and
// their state as hex text for the checkpoint's per-rank metadata (exact resume).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace bagel::train {

at::Generator MakeGenerator(const at::Device& device, uint64_t seed);
std::string GeneratorStateHex(const at::Generator& generator);
void SetGeneratorStateHex(at::Generator& generator, const std::string& hex);

}  // namespace bagel::train
