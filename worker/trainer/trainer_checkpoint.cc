// Trainer: resuming from a checkpoint (the same world size: each rank reads its own shard;
// another: every shard is read and re-split) and writing one at a step boundary.
#include <filesystem>

#include "contract/checkpoint_layout.h"

#include "model/io/safetensors.h"
#include "worker/trainer/generator_state.h"
#include "worker/trainer/lora_base.h"
#include "worker/trainer/trainer.h"

namespace bagel::train {
namespace {

namespace fs = std::filesystem;

// Every saved rank's data stream state (train_state.json "ranks"[r]["data_state"]).
std::vector<nlohmann::json> SavedDataStates(const nlohmann::json& ranks) {
  std::vector<nlohmann::json> out;
  for (const auto& r : ranks) {
    TORCH_CHECK(r.contains("data_state"),
                "checkpoint: a rank has no data_state (saved without datasets?)");
    out.push_back(nlohmann::json::parse(r.at("data_state").get<std::string>()));
  }
  return out;
}

std::map<std::string, at::Tensor> ReadRankFile(const std::string& step_dir, int rank, int world) {
  return io::SafetensorsFile::Open(
             (fs::path(step_dir) / contract::RankFileName(rank, world)).string())
      ->ReadAll();
}

}  // namespace

void Trainer::Resume() {
  std::optional<std::string> resume_from;
  if (options_.resume == "auto") {
    std::vector<std::string> problems;
    resume_from = store_->ResolveResume(*world_, &problems);
    for (const auto& p : problems) progress_->Log("skipping checkpoint: " + p);
  } else if (options_.resume != "none") {
    ckpt::CheckpointStore::Validate(options_.resume);
    resume_from = options_.resume;
  }
  if (!resume_from) return;
  const nlohmann::json state = ckpt::CheckpointStore::ReadTrainState(*resume_from);
  if (spec_.lora.enabled) {
    CheckLoraBase(state, lora_base_);
  } else {
    TORCH_CHECK(!state.contains("lora"), "checkpoint ", *resume_from,
                " holds LoRA adapters but the spec has no lora section");
  }
  const int saved_world = state.at("world_size").get<int>();
  const int64_t saved_step = state.at("step").get<int64_t>();
  bool loaded = false;
  if (saved_world == env_.world_size) {
    auto mine = ReadRankFile(*resume_from, env_.rank, saved_world);
    if (engine_->SameGeometry(mine)) {
      engine_->LoadOwnShard(mine);
      loaded = true;
    }
  }
  if (!loaded) {
    std::vector<std::map<std::string, at::Tensor>> saved;
    for (int r = 0; r < saved_world; ++r)
      saved.push_back(ReadRankFile(*resume_from, r, saved_world));
    engine_->LoadShardState(saved);
  }
  step_->set_steps_done(saved_step);
  const auto& ranks = state.at("ranks");
  if (saved_world == env_.world_size) {
    const auto& me = ranks.at(env_.rank);
    demo_->set_position(std::stoll(me.at("data_position").get<std::string>()));
    if (stream_) stream_->Restore(SavedDataStates(ranks));
    SetGeneratorStateHex(*noise_gen_, me.at("noise_rng").get<std::string>());
    SetGeneratorStateHex(*vae_gen_, me.at("vae_rng").get<std::string>());
  } else {
    // Another world size: continue at the first global sample index every saved rank had
    // reached (samples past it that some rank had drawn are seen again, none is skipped).
    int64_t min_position = INT64_MAX;
    for (const auto& r : ranks)
      min_position =
          std::min<int64_t>(min_position, std::stoll(r.at("data_position").get<std::string>()));
    const int64_t global = min_position * saved_world;
    demo_->set_position((global + env_.world_size - 1) / env_.world_size);
    if (stream_) stream_->Restore(SavedDataStates(ranks));  // the reshard rule of DATA.md
    noise_gen_ = MakeGenerator(device_, rank_seed_ + 7919 * static_cast<uint64_t>(saved_step));
    vae_gen_ =
        MakeGenerator(device_, rank_seed_ + 1000003 + 7919 * static_cast<uint64_t>(saved_step));
  }
  last_checkpoint_ = saved_step;
  progress_->Log("resumed from " + *resume_from + " at step " + std::to_string(saved_step) +
                 (saved_world == env_.world_size
                      ? ""
                      : " (resharded from " + std::to_string(saved_world) + " ranks)"));
}

void Trainer::WriteCheckpoint(int64_t at_step) {
  std::map<std::string, std::string> meta = {{"data_position", std::to_string(demo_->position())},
                                             {"noise_rng", GeneratorStateHex(*noise_gen_)},
                                             {"vae_rng", GeneratorStateHex(*vae_gen_)}};
  if (stream_) meta["data_state"] = stream_->State().dump();
  nlohmann::json state = {{"job_id", options_.job_id},
                          {"attempt", options_.attempt},
                          {"stage", stage_},
                          {"total_steps", spec_.train.steps},
                          {"config_hash", config_hash_},
                          {"shard_group_size", fsdp_options_.shard_group_size},
                          {"lr", hyper_.schedule.At(at_step)}};
  if (spec_.lora.enabled) state["lora"] = lora_base_;
  const auto result = store_->Write(*world_, at_step, engine_->ShardState(), meta, state,
                                    spec_.checkpoint.keep_last);
  last_checkpoint_ = at_step;
  contract::ProgressLine line;
  line.kind = contract::ProgressLine::Kind::kCheckpoint;
  line.step = at_step;
  line.path = result.path;
  line.bytes = result.bytes;
  line.seconds = result.seconds;
  progress_->Emit(line);
}

}  // namespace bagel::train
