#include "model/runtime/matmul_precision.h"

#include <ATen/Context.h>
#include <ATen/SDPBackend.h>
#include <c10/util/Exception.h>

#include <vector>

namespace bagel {

void UseFloat32Accumulation() {
  at::Context& context = at::globalContext();
  context.setAllowBF16ReductionCuBLAS(/*allow_reduced_precision=*/false);
  context.setAllowFP16ReductionCuBLAS(/*allow_reduced_precision=*/false);
  context.setAllowTF32CuBLAS(false);
}

void SetSdpaPriority(const std::string& order) {
  using at::SDPBackend;
  auto codes = [](std::initializer_list<SDPBackend> backends) {
    std::vector<int64_t> out;
    for (SDPBackend b : backends) out.push_back(static_cast<int64_t>(b));
    return out;
  };
  if (order == "default") return;
  if (order == "cudnn-last") {
    at::globalContext().setSDPPriorityOrder(
        codes({SDPBackend::flash_attention, SDPBackend::efficient_attention, SDPBackend::math,
               SDPBackend::cudnn_attention, SDPBackend::overrideable}));
    return;
  }
  if (order == "cudnn-first") {
    at::globalContext().setSDPPriorityOrder(
        codes({SDPBackend::cudnn_attention, SDPBackend::flash_attention,
               SDPBackend::efficient_attention, SDPBackend::math, SDPBackend::overrideable}));
    return;
  }
  TORCH_CHECK(false, "SDPA priority must be default, cudnn-last or cudnn-first, got '", order, "'");
}

}  // namespace bagel
