#include "worker/fsdp/activation_checkpoint.h"

#include <ATen/Context.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

namespace bagel::fsdp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Holds the layer body in the autograd node's saved data (an IValue capsule), so it lives
// exactly as long as the node.
struct BodyHolder : torch::CustomClassHolder {
  explicit BodyHolder(nn::LayerHooks::Body b) : body(std::move(b)) {}
  nn::LayerHooks::Body body;
};

at::Generator DefaultGenerator(const at::Device& device) {
  return at::globalContext().defaultGenerator(device);
}

at::Tensor RngState(const at::Device& device) {
  at::Generator gen = DefaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void SetRngState(const at::Device& device, const at::Tensor& state) {
  at::Generator gen = DefaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const nn::LayerHooks::Body& body) {
    ctx->save_for_backward({input});
    // The recomputation must draw what the forward drew (LoRA dropout), as torch.utils.checkpoint's
    // preserve_rng_state does: the device's default generator state goes with the node.
    ctx->saved_data["rng"] = RngState(input.device());
    ctx->saved_data["body"] = c10::IValue::make_capsule(c10::make_intrusive<BodyHolder>(body));
    at::NoGradGuard no_grad;
    return body(input);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto holder =
        c10::static_intrusive_pointer_cast<BodyHolder>(ctx->saved_data["body"].toCapsule());
    at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Tensor out;
    {
      const at::Tensor now = RngState(x.device());
      SetRngState(x.device(), ctx->saved_data["rng"].toTensor());
      at::AutoGradMode grad(true);
      out = holder->body(x);
      SetRngState(x.device(), now);
    }
    torch::autograd::backward({out}, {grad_outputs[0]});
    return {x.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor CheckpointedLayerCall(const nn::LayerHooks::Body& body, const at::Tensor& input) {
  if (!at::GradMode::is_enabled() || !input.requires_grad()) return body(input);
  return CheckpointFunction::apply(input, body);
}

}  // namespace bagel::fsdp
