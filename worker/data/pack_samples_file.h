// The packer's input file of the reference packing cases (tests/golden/README.md,
// "Packing cases"): samples.json (data_config, special_tokens, samples with sequence plans and
// text ids, vae_timesteps) with images.safetensors beside it (sample.<i>.image.<j>).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "worker/data/sequence_packer.h"

namespace bagel::data {

struct PackSamplesFile {
  PackerConfig config;
  SpecialTokens tokens;
  std::vector<Sample> samples;
  std::vector<double> vae_timesteps;  // raw timesteps to use instead of drawing
};

// Reads samples.json and the images.safetensors beside it; throws naming the file and field.
PackSamplesFile ReadPackSamplesFile(const std::string& samples_json);

// Packs every sample of the file into one sequence. CFG dropout probabilities are 0 or 1 in
// these files, so a fixed uniform draw of 0.5 decides; timesteps come from vae_timesteps.
PackedSequence PackSamplesFileContents(const PackSamplesFile& file);

// The packed layout as the expected file names it: every batch tensor except padded_latent,
// noise and the dense masks, plus padded_images.
std::map<std::string, at::Tensor> PackedLayoutTensors(const PackedSequence& packed);

}  // namespace bagel::data
