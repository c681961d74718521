// Generated training data with something to learn, for the demo job and end-to-end tests: the
// model can only lower its loss by reading the images and the prompts.
//
//   "color" VLM samples: a prompt, a solid-colour image (one of 8 palette colours, with pixel
//     noise) as ViT tokens, and an answer naming the colour with three fixed ids;
//   "copy" text samples: a prompt of random ids, then the same ids shifted by one as answer.
//
// Ids stay below the vocabulary's special tokens.
#pragma once

#include <ATen/ATen.h>

#include "worker/data/sequence_packer.h"

namespace bagel::data {

struct DemoDataOptions {
  int64_t vocab_for_text = 250;   // ids drawn below this (the tiny vocab's specials are 252..255)
  int64_t expected_num_tokens = 256;  // pack samples until a sequence reaches this
  int64_t image_size = 28;            // ViT image side (a multiple of 14)
  uint64_t seed = 42;
};

class DemoData {
 public:
  DemoData(DemoDataOptions options, PackerConfig packer, SpecialTokens tokens);

  // The next packed sequence (Stage 1: text and ViT items only).
  PackedSequence Next();
  int64_t samples_drawn() const { return samples_; }

 private:
  Sample ColorSample();
  Sample CopySample();

  DemoDataOptions options_;
  PackerConfig packer_config_;
  SpecialTokens tokens_;
  at::Generator gen_;
  int64_t samples_ = 0;
};

}  // namespace bagel::data
