// Generated training data with something to learn, for the demo job and end-to-end tests: the
// model can only lower its loss by reading the images and the prompts.
//
//   "color" VLM samples: a prompt, a solid-colour image (one of 8 palette colours, with pixel
//     noise) as ViT tokens, and an answer naming the colour with three fixed ids;
//   "copy" text samples: a prompt of random ids, then the same ids shifted by one as answer;
//   "paint" T2I samples (Stage 2): a caption naming a colour (CFG-droppable) and a noised VAE
//     image of that colour, so the flow-matching loss drops as captions are learned.
//
// Every sample is a pure function of (seed, its global index), and rank r of W draws global
// indices r, r + W, r + 2W, ...: a rank's position (samples drawn) is its whole data state, so
// a resumed run sees exactly the batches an uninterrupted one would. Ids stay below the
// vocabulary's special tokens.
#pragma once

#include <ATen/ATen.h>

#include "worker/data/sequence_packer.h"

namespace bagel::data {

struct DemoDataOptions {
  int64_t vocab_for_text = 250;  // ids drawn below this (the tiny vocab's specials are 252..255)
  int64_t expected_num_tokens = 256;  // pack samples until a sequence reaches this
  int64_t image_size = 28;            // ViT image side (a multiple of 14)
  int64_t vae_image_size = 32;        // VAE image side (a multiple of 16), Stage 2
  bool generation = false;            // include T2I samples (Stage 2)
  uint64_t seed = 42;
  int rank = 0;
  int world_size = 1;
};

class DemoData {
 public:
  DemoData(DemoDataOptions options, PackerConfig packer, SpecialTokens tokens);

  // The next packed sequence of this rank.
  PackedSequence Next();
  // Samples this rank has drawn: the resumable state.
  int64_t position() const { return position_; }
  void set_position(int64_t position) { position_ = position; }

  // The sample at a global index (for tests).
  Sample SampleAt(int64_t global_index) const;

 private:
  DemoDataOptions options_;
  PackerConfig packer_config_;
  SpecialTokens tokens_;
  int64_t position_ = 0;
};

}  // namespace bagel::data
