#include "model/inference/cfg_guidance.h"

#include <c10/util/Exception.h>

namespace bagel {
namespace {

constexpr double kNormEps = 1e-8;

// clamp(|reference| / (|guided| + eps), lo, 1), over `dims` (empty: the whole tensor).
at::Tensor RenormScale(const at::Tensor& reference, const at::Tensor& guided, bool per_token,
                       double lo) {
  at::Tensor a, b;
  if (per_token) {
    a = at::linalg_vector_norm(reference, 2, {-1}, /*keepdim=*/true);
    b = at::linalg_vector_norm(guided, 2, {-1}, /*keepdim=*/true);
  } else {
    a = at::linalg_vector_norm(reference, 2);
    b = at::linalg_vector_norm(guided, 2);
  }
  return (a / (b + kNormEps)).clamp(lo, 1.0);
}

}  // namespace

CfgRenormType ParseCfgRenormType(const std::string& name) {
  if (name == "global") return CfgRenormType::kGlobal;
  if (name == "channel") return CfgRenormType::kChannel;
  if (name == "text_channel") return CfgRenormType::kTextChannel;
  TORCH_CHECK(false, "cfg_renorm_type '", name, "' is not one of global, channel, text_channel");
}

const char* CfgRenormTypeName(CfgRenormType type) {
  switch (type) {
    case CfgRenormType::kGlobal:
      return "global";
    case CfgRenormType::kChannel:
      return "channel";
    case CfgRenormType::kTextChannel:
      return "text_channel";
  }
  return "?";
}

at::Tensor CombineCfgVelocity(const at::Tensor& v, const at::Tensor& v_text,
                              const at::Tensor& v_img, const CfgCombineOptions& o) {
  if (!(o.text_scale > 1.0)) return v;
  const bool img = o.img_scale > 1.0;
  TORCH_INTERNAL_ASSERT(v_text.defined() && v_text.sizes() == v.sizes());
  TORCH_INTERNAL_ASSERT(!img || (v_img.defined() && v_img.sizes() == v.sizes()));
  at::Tensor vt = v_text + o.text_scale * (v - v_text);
  if (o.renorm == CfgRenormType::kTextChannel) {
    vt = vt * RenormScale(v, vt, /*per_token=*/true, o.renorm_min);
    return img ? v_img + o.img_scale * (vt - v_img) : vt;
  }
  at::Tensor guided = img ? v_img + o.img_scale * (vt - v_img) : vt;
  return guided * RenormScale(v, guided, o.renorm == CfgRenormType::kChannel, o.renorm_min);
}

}  // namespace bagel
