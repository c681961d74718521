// Trainer: resuming from a checkpoint (the same world size: each rank reads its own shard;
// another: every shard is read and re-split) and writing one at a step boundary.
#include <filesystem>

#include "contract/checkpoint_layout.h"

#include "model/io/safetensors.h"
#include "worker/checkpoint/checkpoint_writer.h"
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

// The saved shard files a rank needs to resume: its own when the geometry is the same (one
// file read), every rank's otherwise. Each is read once and checked against the manifest's
// SHA-256 as it is read; a c10::Error names a corrupt file.
std::vector<std::map<std::string, at::Tensor>> ReadShardFiles(const std::string& step_dir,
                                                              int saved_world, int rank,
                                                              bool own_only) {
  const auto files = ckpt::CheckpointStore::CheckManifest(step_dir);
  std::vector<std::map<std::string, at::Tensor>> out;
  for (int r = 0; r < saved_world; ++r) {
    if (own_only && r != rank) continue;
    const std::string name = contract::RankFileName(r, saved_world);
    auto file = ckpt::CheckpointStore::ReadVerified(step_dir, name, files.at(name));
    std::map<std::string, at::Tensor> tensors;
    for (const auto& [key, entry] : file->entries()) tensors.emplace(key, file->View(key));
    out.push_back(std::move(tensors));
  }
  return out;
}

}  // namespace

// The checkpoint to resume from and its files, read and verified: candidates newest first
// (--resume auto) or the one named; every rank reads what it needs and the world agrees that all
// of it verified before anything is loaded, so a corrupt file anywhere makes every rank move on
// to the previous checkpoint together.
std::optional<Trainer::ResumeSource> Trainer::FindResumeSource() {
  std::vector<std::string> candidates;
  if (options_.resume == "auto") {
    std::vector<std::string> problems;
    if (env_.rank == 0) candidates = store_->CandidatesNewestFirst(&problems);
    for (const auto& p : problems) progress_->Log("skipping checkpoint: " + p);
  } else if (options_.resume != "none") {
    candidates = {options_.resume};
  }
  const bool explicit_path = options_.resume != "auto";
  for (size_t i = 0;; ++i) {
    // Rank 0 names the candidate (its step), the others follow.
    int64_t step = -1;
    if (env_.rank == 0 && i < candidates.size()) {
      step =
          explicit_path ? 0 : *contract::StepOfDirName(fs::path(candidates[i]).filename().string());
    }
    at::Tensor t = at::full({1}, static_cast<double>(step + 1),
                            at::TensorOptions().dtype(at::kDouble).device(device_));
    world_->AllReduceSum(t);
    step = static_cast<int64_t>(t.item<double>()) - 1;
    if (step < 0) return std::nullopt;
    const std::string dir = explicit_path
                                ? options_.resume
                                : (fs::path(job_dir_) / contract::StepDirName(step)).string();
    ResumeSource source;
    source.dir = dir;
    std::string problem;
    try {
      source.state = ckpt::CheckpointStore::ReadTrainState(dir);
      const int saved_world = source.state.at("world_size").get<int>();
      source.own_only = saved_world == env_.world_size;
      source.shards = ReadShardFiles(dir, saved_world, env_.rank, source.own_only);
      if (source.own_only && !engine_->SameGeometry(source.shards[0])) {
        source.own_only = false;
        source.shards = ReadShardFiles(dir, saved_world, env_.rank, false);
      }
    } catch (const c10::Error& e) {
      problem = e.what_without_backtrace();
    }
    at::Tensor failed = at::full({1}, problem.empty() ? 0.0 : 1.0,
                                 at::TensorOptions().dtype(at::kDouble).device(device_));
    world_->AllReduceSum(failed);
    if (failed.item<double>() == 0) return source;
    progress_->Log("skipping checkpoint " + dir + ": " +
                   (problem.empty() ? "another rank could not read its part" : problem));
    TORCH_CHECK(!explicit_path, "--resume ", dir, " cannot be loaded",
                problem.empty() ? "" : ": " + problem);
  }
}

void Trainer::Resume() {
  std::optional<ResumeSource> source = FindResumeSource();
  if (!source) return;
  const std::string* resume_from = &source->dir;
  const nlohmann::json& state = source->state;
  if (spec_.lora.enabled) {
    CheckLoraBase(state, lora_base_);
  } else {
    TORCH_CHECK(!state.contains("lora"), "checkpoint ", *resume_from,
                " holds LoRA adapters but the spec has no lora section");
  }
  const int saved_world = state.at("world_size").get<int>();
  const int64_t saved_step = state.at("step").get<int64_t>();
  if (source->own_only) {
    engine_->LoadOwnShard(source->shards[0]);
  } else {
    engine_->LoadShardState(source->shards);
  }
  source->shards.clear();  // the file buffers go before training starts
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
  ckpt::RankSnapshot snap;
  snap.step = at_step;
  // Asynchronous: the writer copies the state where it lives into its own host buffers.
  // Where the state lives: the asynchronous writer copies it to its host buffers, the synchronous
  // one streams it to the file one tensor at a time.
  snap.tensors = engine_->ShardState(/*on_host=*/false);
  snap.metadata = {{"data_position", std::to_string(demo_->position())},
                   {"noise_rng", GeneratorStateHex(*noise_gen_)},
                   {"vae_rng", GeneratorStateHex(*vae_gen_)}};
  if (stream_) snap.metadata["data_state"] = stream_->State().dump();
  snap.train_state = {{"job_id", options_.job_id},
                      {"attempt", options_.attempt},
                      {"stage", stage_},
                      {"total_steps", spec_.train.steps},
                      {"config_hash", config_hash_},
                      {"shard_group_size", fsdp_options_.shard_group_size},
                      {"lr", hyper_.schedule.At(at_step)}};
  if (spec_.lora.enabled) snap.train_state["lora"] = lora_base_;
  snap.keep_last = spec_.checkpoint.keep_last;
  checkpoints_->Save(std::move(snap));
  last_checkpoint_ = at_step;
  ReportCheckpoints();
}

void Trainer::ReportCheckpoints() {
  while (auto done = checkpoints_->TakeFinished()) {
    contract::ProgressLine line;
    line.kind = contract::ProgressLine::Kind::kCheckpoint;
    line.step = done->step;
    line.path = done->result.path;
    line.bytes = done->result.bytes;
    line.seconds = done->result.seconds;
    line.blocking_s = done->blocking_s;
    progress_->Emit(line);
  }
}

void Trainer::FinishCheckpoints() {
  checkpoints_->Wait();
  ReportCheckpoints();
}

}  // namespace bagel::train
