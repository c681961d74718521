// The shape of a FLUX autoencoder (BAGEL.md §1.2 "VAE params") and how to read it off a
// checkpoint: channel width, level multipliers, res blocks per level and latent channels are
// inferred from tensor shapes, as the real ae.safetensors carries no config.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/io/safetensors.h"

namespace bagel::vae {

struct FluxVaeParams {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t ch = 128;
  std::vector<int64_t> ch_mult = {1, 2, 4, 4};
  int64_t num_res_blocks = 2;
  int64_t z_channels = 16;
  double scale_factor = 0.3611;
  double shift_factor = 0.1159;

  // Spatial reduction of the encoder: 2^(levels - 1) (8 for FLUX).
  int64_t downsample() const { return int64_t{1} << (ch_mult.size() - 1); }
  // One line, e.g. "ch 128, ch_mult [1,2,4,4], 2 res blocks, z 16".
  std::string Describe() const;
  // Throws naming the field when a value is impossible (GroupNorm needs multiples of 32).
  void Validate() const;
};

// The shape of BAGEL-7B-MoT's ae.safetensors (FLUX.1's autoencoder).
FluxVaeParams FluxDevVaeParams();

// Reads the shape from the entries of an ae.safetensors file: ch from encoder.conv_in.weight,
// levels from the encoder.down.<i> prefixes, multipliers from each level's first block's conv2,
// res blocks from encoder.down.0.block.<j>, z from decoder.conv_in.weight. Scale and shift are
// the FLUX constants. Throws naming the file and the tensor when one is missing or malformed.
FluxVaeParams InferFluxVaeParams(const io::SafetensorsFile& file);

}  // namespace bagel::vae
