#include "worker/trainer/replay/train_replay.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/bagel/packed_batch_file.h"
#include "model/config/bagel_config.h"
#include "model/io/safetensors.h"
#include "worker/dist/communicator.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/checkpoint_values.h"
#include "worker/trainer/sharded_step.h"

namespace bagel::train {
namespace {

namespace fs = std::filesystem;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  TORCH_CHECK(in, path, ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path, ": not valid JSON: ", e.what());
  }
}

template <typename T>
T Field(const nlohmann::json& j, const char* name, const std::string& path) {
  TORCH_CHECK(j.contains(name), path, ": missing field '", name, "'");
  try {
    return j[name].get<T>();
  } catch (const nlohmann::json::exception&) {
    TORCH_CHECK(false, path, ": field '", name, "' has the wrong type: ", j[name].dump());
  }
}

at::Tensor F64(double v) { return at::scalar_tensor(v, at::kDouble); }

}  // namespace

int ReplayWorldSize(const std::string& train_json) {
  return Field<int>(ReadJson(train_json), "world_size", train_json);
}

void RunReplayRank(const ReplayOptions& o) {
  const nlohmann::json t = ReadJson(o.train_json);
  const int stage = Field<int>(t, "stage", o.train_json);
  const int world_size = Field<int>(t, "world_size", o.train_json);
  const int accum = Field<int>(t, "grad_accum", o.train_json);
  const int steps = Field<int>(t, "steps", o.train_json);
  StepHyper hyper;
  hyper.schedule.kind = LrSchedule::ParseKind(Field<std::string>(t, "lr_scheduler", o.train_json));
  hyper.schedule.lr = Field<double>(t, "lr", o.train_json);
  hyper.schedule.warmup_steps = Field<int64_t>(t, "warmup_steps", o.train_json);
  hyper.schedule.total_steps = t.value("total_steps", static_cast<int64_t>(steps));
  hyper.schedule.min_lr = t.value("min_lr", 1e-7);
  hyper.adamw = {Field<double>(t, "beta1", o.train_json), Field<double>(t, "beta2", o.train_json),
                 Field<double>(t, "eps", o.train_json),
                 Field<double>(t, "weight_decay", o.train_json)};
  hyper.max_grad_norm = Field<double>(t, "max_grad_norm", o.train_json);
  hyper.ema_decay = Field<double>(t, "ema", o.train_json);
  hyper.loss_weights = {Field<double>(t, "ce_weight", o.train_json),
                        Field<double>(t, "mse_weight", o.train_json)};

  const dist::DistEnv env = dist::DistEnv::FromEnvironment();
  TORCH_CHECK(env.world_size == world_size, o.train_json, ": world_size ", world_size,
              " but this process is one of ", env.world_size, " ranks");
  BagelConfig config = LoadBagelConfig(o.checkpoint);
  PrepareConfigForStage(config, stage);
  BagelForUnifiedMultimodal model(config, at::TensorOptions().device(at::kMeta));
  auto world = dist::Communicator::Create(env, at::kCPU, std::chrono::seconds(300));
  fsdp::FsdpOptions fo;
  fo.shard_group_size = o.shard_group_size;
  fsdp::FsdpEngine engine(model, world, fo);
  const fs::path weights =
      fs::path(o.checkpoint) / (fs::exists(fs::path(o.checkpoint) / "ema.safetensors")
                                    ? "ema.safetensors"
                                    : "model.safetensors");
  auto values = ValuesFromCheckpoint(io::SafetensorsFile::Open(weights.string()), model,
                                     /*strict=*/true, 4396);
  engine.InitFromValues(values.value);

  ShardedStep step(model, engine, hyper);
  std::map<std::string, at::Tensor> out;
  for (int s = 0; s < steps; ++s) {
    std::vector<PackedBatch> micro;
    for (int m = 0; m < accum; ++m) {
      const fs::path file =
          fs::path(o.batches) / ("step" + std::to_string(s) + ".micro" + std::to_string(m) +
                                 ".rank" + std::to_string(env.rank) + ".safetensors");
      PackedBatch b = ReadPackedBatch(file.string());
      b.Validate(config.llm.vocab_size);
      micro.push_back(std::move(b));
    }
    StepReport r = step.Run(micro);
    for (int m = 0; m < accum; ++m) {
      const std::string p = "step." + std::to_string(s) + ".micro." + std::to_string(m);
      out[p + ".ce"] = F64(r.micro_ce[m]);
      if (stage == 2) out[p + ".mse"] = F64(r.micro_mse[m]);
    }
    out["step." + std::to_string(s) + ".lr"] = F64(r.lr);
    out["step." + std::to_string(s) + ".grad_norm"] = F64(r.grad_norm);
  }
  auto params = engine.GatherFull(/*ema=*/false);
  auto ema = engine.GatherFull(/*ema=*/true);
  if (env.rank != 0) return;
  for (const auto& unit : engine.units()) {
    for (const auto& slot : unit->slots()) {
      if (!slot.trainable) continue;
      out["param." + slot.name] = params.at(slot.name);
      out["ema." + slot.name] = ema.at(slot.name);
    }
  }
  io::WriteSafetensors(o.out, out);
}

}  // namespace bagel::train
