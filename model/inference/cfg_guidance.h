// Combining the conditional and guided velocities of the rectified-flow sampler (BAGEL.md §5.2,
// the official _forward_flow):
//
//   only when text_scale > 1 (otherwise v is returned unchanged):
//   vt_ = v_text + text_scale * (v - v_text)
//   global / channel:  v_ = img_scale > 1 ? v_img + img_scale * (vt_ - v_img) : vt_
//                      v  = v_ * clamp(|v| / (|v_| + 1e-8), renorm_min, 1)
//                      with |.| the norm over the whole tensor (global: every latent token of
//                      the query together) or over each token's channels (channel)
//   text_channel:      vt = vt_ * clamp(|v| / (|vt_| + 1e-8), renorm_min, 1) per token, then
//                      v = img_scale > 1 ? v_img + img_scale * (vt - v_img) : vt (no renorm)
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace bagel {

enum class CfgRenormType { kGlobal, kChannel, kTextChannel };

// "global", "channel", "text_channel"; throws naming the value otherwise.
CfgRenormType ParseCfgRenormType(const std::string& name);
const char* CfgRenormTypeName(CfgRenormType type);

struct CfgCombineOptions {
  double text_scale = 1.0;
  double img_scale = 1.0;
  double renorm_min = 0.0;
  CfgRenormType renorm = CfgRenormType::kGlobal;
};

// v, v_text, v_img: [tokens, channels]. v_text is required when text_scale > 1, v_img when also
// img_scale > 1; either may be undefined otherwise.
at::Tensor CombineCfgVelocity(const at::Tensor& v, const at::Tensor& v_text,
                              const at::Tensor& v_img, const CfgCombineOptions& options);

}  // namespace bagel
