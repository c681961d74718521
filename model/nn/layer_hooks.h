// Hook points around the repeated layers of a model (the decoder and ViT encoder layers), the
// C++ counterpart of nn.Module forward hooks. The model knows nothing of what a hook does; the
// fully sharded engine (worker/fsdp) uses them to gather a layer's parameters just before it
// runs and to release them after, as torchtitan applies parallelism from outside the model.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace bagel::nn {

class LayerHooks {
 public:
  virtual ~LayerHooks() = default;
  // Before `layer` computes.
  virtual void PreForward(const torch::nn::Module& layer) = 0;
  // After `layer` computed `output`; returns the tensor the model continues with (a hook may
  // attach autograd hooks to it).
  virtual at::Tensor PostForward(const torch::nn::Module& layer, at::Tensor output) = 0;
};

// Runs `body` (the layer's forward) between the hooks, or alone when `hooks` is null.
template <typename Body>
at::Tensor RunHookedLayer(LayerHooks* hooks, const torch::nn::Module& layer, Body&& body) {
  if (hooks == nullptr) return body();
  hooks->PreForward(layer);
  return hooks->PostForward(layer, body());
}

}  // namespace bagel::nn
