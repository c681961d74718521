// A hook point around the repeated layers of a model (the decoder and ViT encoder layers), the
// C++ counterpart of nn.Module forward hooks and wrappers. The model knows nothing of what a
// hook does; the fully sharded engine (worker/fsdp) uses it to gather a layer's parameters just
// before it runs, release them after, and optionally recompute the layer in backward
// (activation checkpointing) -- as torchtitan applies parallelism from outside the model.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <functional>

namespace bagel::nn {

class LayerHooks {
 public:
  // The layer's computation from its input. It may run again during backward (recomputation),
  // so it owns everything it needs (captures by value).
  using Body = std::function<at::Tensor(const at::Tensor& input)>;

  virtual ~LayerHooks() = default;
  // Runs `body(input)` for `layer`, doing whatever the hook needs around it.
  virtual at::Tensor RunLayer(const torch::nn::Module& layer, const at::Tensor& input,
                              const Body& body) = 0;
};

// Runs `body(input)` through `hooks`, or directly when `hooks` is null.
inline at::Tensor RunHookedLayer(LayerHooks* hooks, const torch::nn::Module& layer,
                                 const at::Tensor& input, const LayerHooks::Body& body) {
  return hooks == nullptr ? body(input) : hooks->RunLayer(layer, input, body);
}

}  // namespace bagel::nn
