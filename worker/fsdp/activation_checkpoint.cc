#include "worker/fsdp/activation_checkpoint.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

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

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const nn::LayerHooks::Body& body) {
    ctx->save_for_backward({input});
    ctx->saved_data["body"] = c10::IValue::make_capsule(c10::make_intrusive<BodyHolder>(body));
    at::NoGradGuard no_grad;
    return body(input);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto holder = c10::static_intrusive_pointer_cast<BodyHolder>(ctx->saved_data["body"].toCapsule());
    at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Tensor out;
    {
      at::AutoGradMode grad(true);
      out = holder->body(x);
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
