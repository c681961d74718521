#include "model/bagel/packed_batch_file.h"

#include <c10/util/Exception.h>

#include "model/io/safetensors.h"

namespace bagel {
namespace {

std::vector<int64_t> ToList(const at::Tensor& t, const std::string& source, const char* name) {
  TORCH_CHECK(t.dim() == 1 && !t.is_floating_point(), source, ": ", name,
              " must be a 1-D integer tensor, got ", t.scalar_type(), " ", t.sizes());
  at::Tensor l = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

at::Tensor Positions(const at::Tensor& t, const std::string& source, const char* name) {
  TORCH_CHECK(t.dim() == 1, source, ": ", name, " must be 1-D, got ", t.sizes());
  if (t.scalar_type() == at::kBool) return t.nonzero().squeeze(1);  // a boolean mask
  TORCH_CHECK(!t.is_floating_point(), source, ": ", name, " must hold integer positions");
  return t.to(at::kLong);
}

}  // namespace

PackedBatch PackedBatchFromTensors(const std::map<std::string, at::Tensor>& tensors,
                                   const std::string& source) {
  auto get = [&](const char* name) -> at::Tensor {
    auto it = tensors.find(name);
    return it == tensors.end() ? at::Tensor() : it->second;
  };
  auto require = [&](const char* name) -> at::Tensor {
    at::Tensor t = get(name);
    TORCH_CHECK(t.defined(), source, ": required tensor '", name, "' is missing");
    return t;
  };
  PackedBatch b;
  at::Tensor seq = require("sequence_length");
  TORCH_CHECK(seq.numel() == 1 && !seq.is_floating_point(), source,
              ": sequence_length must be one integer");
  b.sequence_length = seq.item<int64_t>();
  b.packed_text_ids = Positions(require("packed_text_ids"), source, "packed_text_ids");
  b.packed_text_indexes = Positions(require("packed_text_indexes"), source, "packed_text_indexes");
  b.sample_lens = ToList(require("sample_lens"), source, "sample_lens");
  b.packed_position_ids = Positions(require("packed_position_ids"), source, "packed_position_ids");
  for (size_t i = 0;; ++i) {
    at::Tensor m = get(("nested_attention_masks." + std::to_string(i)).c_str());
    if (!m.defined()) break;
    b.nested_attention_masks.push_back(m);
  }
  if (at::Tensor t = get("split_lens"); t.defined()) b.split_lens = ToList(t, source, "split_lens");
  if (at::Tensor t = get("attn_modes"); t.defined()) {
    for (int64_t code : ToList(t, source, "attn_modes"))
      b.attn_modes.push_back(AttnModeFromCode(code));
  }
  TORCH_CHECK(!b.nested_attention_masks.empty() || !b.split_lens.empty(), source,
              ": needs nested_attention_masks.<i> or split_lens + attn_modes");
  if (at::Tensor t = get("packed_vit_tokens"); t.defined()) {
    b.packed_vit_tokens = t;
    b.packed_vit_token_indexes =
        Positions(require("packed_vit_token_indexes"), source, "packed_vit_token_indexes");
    b.packed_vit_position_ids =
        Positions(require("packed_vit_position_ids"), source, "packed_vit_position_ids");
    b.vit_token_seqlens = ToList(require("vit_token_seqlens"), source, "vit_token_seqlens");
  }
  if (at::Tensor t = get("padded_latent"); t.defined()) {
    b.padded_latent = t;
    at::Tensor shapes = require("patchified_vae_latent_shapes");
    TORCH_CHECK(shapes.dim() == 2 && shapes.size(1) == 2, source,
                ": patchified_vae_latent_shapes must be [n, 2], got ", shapes.sizes());
    at::Tensor s = shapes.to(at::kLong).contiguous();
    for (int64_t i = 0; i < s.size(0); ++i) {
      b.patchified_vae_latent_shapes.emplace_back(s[i][0].item<int64_t>(), s[i][1].item<int64_t>());
    }
    b.packed_latent_position_ids =
        Positions(require("packed_latent_position_ids"), source, "packed_latent_position_ids");
    b.packed_vae_token_indexes =
        Positions(require("packed_vae_token_indexes"), source, "packed_vae_token_indexes");
    b.packed_timesteps = require("packed_timesteps");
    if (at::Tensor m = get("mse_loss_indexes"); m.defined())
      b.mse_loss_indexes = Positions(m, source, "mse_loss_indexes");
    b.noise = get("noise");
  }
  if (at::Tensor t = get("ce_loss_indexes"); t.defined()) {
    b.ce_loss_indexes = Positions(t, source, "ce_loss_indexes");
    b.packed_label_ids = Positions(require("packed_label_ids"), source, "packed_label_ids");
  }
  b.ce_loss_weights = get("ce_loss_weights");
  return b;
}

PackedBatch ReadPackedBatch(const std::string& path) {
  auto file = io::SafetensorsFile::Open(path);
  return PackedBatchFromTensors(file->ReadAll(), path);
}

std::map<std::string, at::Tensor> PackedBatchToTensors(const PackedBatch& b) {
  std::map<std::string, at::Tensor> out;
  auto list = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); };
  auto put = [&](const char* name, const at::Tensor& t) {
    if (t.defined()) out[name] = t;
  };
  out["sequence_length"] = at::scalar_tensor(b.sequence_length, at::kLong);
  put("packed_text_ids", b.packed_text_ids);
  put("packed_text_indexes", b.packed_text_indexes);
  out["sample_lens"] = list(b.sample_lens);
  put("packed_position_ids", b.packed_position_ids);
  for (size_t i = 0; i < b.nested_attention_masks.size(); ++i) {
    out["nested_attention_masks." + std::to_string(i)] = b.nested_attention_masks[i];
  }
  if (!b.split_lens.empty()) {
    out["split_lens"] = list(b.split_lens);
    std::vector<int64_t> codes;
    for (AttnMode m : b.attn_modes) codes.push_back(static_cast<int64_t>(m));
    out["attn_modes"] = list(codes);
  }
  if (b.has_vit()) {
    put("packed_vit_tokens", b.packed_vit_tokens);
    put("packed_vit_token_indexes", b.packed_vit_token_indexes);
    put("packed_vit_position_ids", b.packed_vit_position_ids);
    out["vit_token_seqlens"] = list(b.vit_token_seqlens);
  }
  if (b.has_latents()) {
    put("padded_latent", b.padded_latent);
    std::vector<int64_t> flat;
    for (const auto& [h, w] : b.patchified_vae_latent_shapes) {
      flat.push_back(h);
      flat.push_back(w);
    }
    out["patchified_vae_latent_shapes"] =
        list(flat).reshape({static_cast<int64_t>(b.patchified_vae_latent_shapes.size()), 2});
    put("packed_latent_position_ids", b.packed_latent_position_ids);
    put("packed_vae_token_indexes", b.packed_vae_token_indexes);
    put("packed_timesteps", b.packed_timesteps);
    put("mse_loss_indexes", b.mse_loss_indexes);
    put("noise", b.noise);
  }
  put("ce_loss_indexes", b.ce_loss_indexes);
  put("packed_label_ids", b.packed_label_ids);
  put("ce_loss_weights", b.ce_loss_weights);
  return out;
}

void WritePackedBatch(const PackedBatch& batch, const std::string& path) {
  io::WriteSafetensors(path, PackedBatchToTensors(batch));
}

}  // namespace bagel
