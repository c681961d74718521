// Activation checkpointing of one layer (non-reentrant in effect, as the official trainer's
// checkpoint_wrapper): the forward runs without keeping activations, saving only the layer's
// input; the backward runs the layer again with gradients enabled and backpropagates through
// that recomputation, accumulating the parameters' gradients and returning the input's.
#pragma once

#include <ATen/ATen.h>

#include "model/nn/layer_hooks.h"

namespace bagel::fsdp {

// body(input) with recomputation in backward. Falls back to a plain call when no gradient is
// being recorded or `input` does not require one.
at::Tensor CheckpointedLayerCall(const nn::LayerHooks::Body& body, const at::Tensor& input);

}  // namespace bagel::fsdp
