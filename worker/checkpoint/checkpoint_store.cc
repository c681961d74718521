#include "worker/checkpoint/checkpoint_store.h"

#include "contract/checkpoint_layout.h"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "model/io/safetensors.h"
#include "worker/checkpoint/sha256.h"

namespace bagel::ckpt {
namespace {

namespace fs = std::filesystem;

void Fsync(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void WriteTextAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    TORCH_CHECK(out, tmp.string(), ": cannot open for writing");
    out << text;
    out.flush();
    TORCH_CHECK(out.good(), tmp.string(), ": write failed (disk full?)");
  }
  Fsync(tmp);
  fs::rename(tmp, path);
}

nlohmann::json ReadJsonFile(const fs::path& path) {
  std::ifstream in(path);
  TORCH_CHECK(in, path.string(), ": missing");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path.string(), ": not valid JSON: ", e.what());
  }
}

}  // namespace

WriteResult CheckpointStore::Write(dist::Communicator& world, int64_t step,
                                   const std::map<std::string, at::Tensor>& tensors,
                                   const std::map<std::string, std::string>& rank_metadata,
                                   nlohmann::json train_state, int64_t keep_last) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path job(job_dir_);
  const fs::path staging =
      job / (contract::StepDirName(step) + std::string(contract::kStagingSuffix));
  const fs::path target = job / contract::StepDirName(step);
  world.Barrier();
  if (world.rank() == 0) {
    fs::create_directories(job);
    fs::remove_all(staging);
    fs::create_directories(staging);
  }
  world.Barrier();
  // Every rank: its shard file and its digest.
  const std::string mine = contract::RankFileName(world.rank(), world.size());
  io::WriteSafetensors((staging / mine).string(), tensors, rank_metadata);
  Fsync(staging / mine);
  nlohmann::json digest = {{"name", mine},
                           {"bytes", static_cast<int64_t>(fs::file_size(staging / mine))},
                           {"sha256", Sha256File((staging / mine).string())}};
  WriteTextAtomically(staging / (mine + ".digest"), digest.dump());
  world.Barrier();
  WriteResult result;
  result.path = target.string();
  if (world.rank() == 0) {
    nlohmann::json files = nlohmann::json::array();
    nlohmann::json ranks = nlohmann::json::array();
    for (int r = 0; r < world.size(); ++r) {
      const std::string name = contract::RankFileName(r, world.size());
      const fs::path digest_path = staging / (name + ".digest");
      files.push_back(ReadJsonFile(digest_path));
      fs::remove(digest_path);
      ranks.push_back(io::SafetensorsFile::Open((staging / name).string())->metadata());
    }
    train_state["step"] = step;
    train_state["world_size"] = world.size();
    train_state["ranks"] = ranks;
    WriteTextAtomically(staging / contract::kTrainStateFile, train_state.dump(2) + "\n");
    files.push_back(
        {{"name", contract::kTrainStateFile},
         {"bytes", static_cast<int64_t>(fs::file_size(staging / contract::kTrainStateFile))},
         {"sha256", Sha256File((staging / contract::kTrainStateFile).string())}});
    for (const auto& f : files) result.bytes += f["bytes"].get<int64_t>();
    const nlohmann::json manifest = {{"format", "bagel-checkpoint/1"},
                                     {"step", step},
                                     {"world_size", world.size()},
                                     {"files", files}};
    WriteTextAtomically(staging / contract::kManifestFile, manifest.dump(2) + "\n");  // last
    Fsync(staging);
    if (fs::exists(target)) {
      // A published step is never overwritten; keep it if it is complete.
      bool valid = true;
      try {
        Validate(target.string());
      } catch (const c10::Error&) {
        valid = false;
      }
      if (valid) {
        fs::remove_all(staging);
      } else {
        fs::rename(target,
                   job / (contract::StepDirName(step) + std::string(contract::kCorruptSuffix)));
        fs::rename(staging, target);
      }
    } else {
      fs::rename(staging, target);
    }
    Fsync(job);
    WriteTextAtomically(job / contract::kLatestFile, contract::StepDirName(step) + "\n");
    Fsync(job);
    result.pruned = Prune(keep_last);
  }
  world.Barrier();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

void CheckpointStore::Validate(const std::string& step_dir) {
  const fs::path dir(step_dir);
  const fs::path manifest_path = dir / contract::kManifestFile;
  TORCH_CHECK(fs::exists(manifest_path), step_dir, ": no MANIFEST.json (incomplete checkpoint)");
  const nlohmann::json manifest = ReadJsonFile(manifest_path);
  TORCH_CHECK(
      manifest.contains("files") && manifest["files"].is_array() && manifest.contains("world_size"),
      manifest_path.string(), ": malformed manifest");
  std::set<std::string> listed;
  for (const auto& f : manifest["files"]) {
    const std::string name = f.at("name").get<std::string>();
    listed.insert(name);
    const fs::path path = dir / name;
    TORCH_CHECK(fs::exists(path), step_dir, ": ", name, " is missing");
    const int64_t bytes = static_cast<int64_t>(fs::file_size(path));
    TORCH_CHECK(bytes == f.at("bytes").get<int64_t>(), step_dir, ": ", name, " has ", bytes,
                " bytes, the manifest says ", f.at("bytes").get<int64_t>());
    TORCH_CHECK(Sha256File(path.string()) == f.at("sha256").get<std::string>(), step_dir, ": ",
                name, " does not match its SHA-256 (corrupt)");
  }
  const int world = manifest["world_size"].get<int>();
  TORCH_CHECK(listed.count(std::string(contract::kTrainStateFile)), step_dir,
              ": the manifest lists no train_state.json");
  for (int r = 0; r < world; ++r) {
    TORCH_CHECK(listed.count(contract::RankFileName(r, world)), step_dir,
                ": the manifest lists no ", contract::RankFileName(r, world));
  }
}

std::vector<int64_t> CheckpointStore::PublishedSteps() const {
  std::vector<int64_t> steps;
  if (!fs::exists(job_dir_)) return steps;
  for (const auto& entry : fs::directory_iterator(job_dir_)) {
    if (!entry.is_directory()) continue;
    if (auto s = contract::StepOfDirName(entry.path().filename().string())) steps.push_back(*s);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::optional<std::string> CheckpointStore::FindLatestComplete(
    std::vector<std::string>* problems) const {
  const fs::path job(job_dir_);
  std::vector<std::string> candidates;
  if (fs::exists(job / contract::kLatestFile)) {
    std::ifstream in(job / contract::kLatestFile);
    std::string name;
    in >> name;
    if (contract::StepOfDirName(name)) candidates.push_back(name);
  }
  auto steps = PublishedSteps();
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    candidates.push_back(contract::StepDirName(*it));
  std::set<std::string> tried;
  for (const auto& name : candidates) {
    if (!tried.insert(name).second) continue;
    try {
      Validate((job / name).string());
      return (job / name).string();
    } catch (const c10::Error& e) {
      if (problems) problems->push_back(e.what_without_backtrace());
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckpointStore::ResolveResume(
    dist::Communicator& world, std::vector<std::string>* problems) const {
  int64_t chosen = -1;
  if (world.rank() == 0) {
    if (auto path = FindLatestComplete(problems)) {
      chosen = *contract::StepOfDirName(fs::path(*path).filename().string());
    }
  }
  at::Tensor t = at::scalar_tensor(chosen + 1, at::kLong).reshape({1}).to(world.device());
  world.AllReduceSum(t);  // only rank 0 contributes
  chosen = t.to(at::kCPU).item<int64_t>() - 1;
  if (chosen < 0) return std::nullopt;
  return (fs::path(job_dir_) / contract::StepDirName(chosen)).string();
}

nlohmann::json CheckpointStore::ReadTrainState(const std::string& step_dir) {
  return ReadJsonFile(fs::path(step_dir) / contract::kTrainStateFile);
}

std::vector<std::string> CheckpointStore::Prune(int64_t keep_last) const {
  const fs::path job(job_dir_);
  std::set<std::string> keep;
  if (fs::exists(job / contract::kLatestFile)) {
    std::ifstream in(job / contract::kLatestFile);
    std::string name;
    in >> name;
    keep.insert(name);
  }
  if (fs::exists(job / contract::kPinnedFile)) {
    std::ifstream in(job / contract::kPinnedFile);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) keep.insert(line);
    }
  }
  auto steps = PublishedSteps();
  std::vector<std::string> pruned;
  const int64_t n = static_cast<int64_t>(steps.size());
  for (int64_t i = 0; i < n - keep_last; ++i) {
    const std::string name = contract::StepDirName(steps[i]);
    if (keep.count(name)) continue;
    fs::remove_all(job / name);
    pruned.push_back(name);
  }
  return pruned;
}

}  // namespace bagel::ckpt
