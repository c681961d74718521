#include "worker/trainer/lora_base.h"

#include <c10/util/Exception.h>

#include "worker/checkpoint/sha256.h"
#include "worker/trainer/job_model.h"

namespace bagel::train {
namespace {

// Rank 0's hex digest on every rank: its 32 bytes summed over the world with the others' zeros.
std::string DigestFromRankZero(const std::string& hex, dist::Communicator& world) {
  at::Tensor bytes = at::zeros({32}, at::TensorOptions().dtype(at::kFloat).device(world.device()));
  if (world.rank() == 0) {
    TORCH_INTERNAL_ASSERT(hex.size() == 64, "not a SHA-256 digest: ", hex);
    at::Tensor host = at::empty({32}, at::kFloat);
    for (int i = 0; i < 32; ++i) host[i] = std::stoi(hex.substr(2 * i, 2), nullptr, 16);
    bytes.copy_(host);
  }
  world.AllReduceSum(bytes);
  const at::Tensor host = bytes.cpu();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    const int b = static_cast<int>(host[i].item<float>());
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

nlohmann::json LoraBaseIdentity(const config::JobSpec& spec, dist::Communicator& world) {
  const config::InitFrom& init = spec.model.init_from;
  nlohmann::json id = {{"seed", init.seed},
                       {"rank", spec.lora.rank},
                       {"alpha", spec.lora.alpha},
                       {"targets", spec.lora.targets}};
  if (init.kind == config::InitFrom::Kind::kPreset) {
    id["base"] = "preset:" + init.preset;
    id["sha256"] = "";
  } else {
    const std::string file = InitWeightsFile(init.path);
    id["base"] = file;
    id["sha256"] = DigestFromRankZero(world.rank() == 0 ? ckpt::Sha256File(file) : "", world);
  }
  return id;
}

void CheckLoraBase(const nlohmann::json& train_state, const nlohmann::json& current) {
  TORCH_CHECK(train_state.contains("lora"),
              "checkpoint: it was written without LoRA but the spec has a lora section");
  const nlohmann::json& saved = train_state.at("lora");
  TORCH_CHECK(saved.value("sha256", "") == current.at("sha256") &&
                  saved.value("base", "") == current.at("base") &&
                  saved.value("seed", uint64_t{0}) == current.at("seed"),
              "checkpoint: its LoRA adapters were trained on ", saved.value("base", "?"),
              " (sha256 ", saved.value("sha256", "?"), ") but model.init_from is now ",
              current.at("base").get<std::string>(), " (sha256 ",
              current.at("sha256").get<std::string>(), ")");
  for (const char* field : {"rank", "alpha", "targets"}) {
    TORCH_CHECK(saved.contains(field) && saved.at(field) == current.at(field), "checkpoint: lora.",
                field, " was ", saved.value(field, nlohmann::json()).dump(), ", the spec says ",
                current.at(field).dump());
  }
}

}  // namespace bagel::train
