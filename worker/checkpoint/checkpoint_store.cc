#include "worker/checkpoint/checkpoint_store.h"

#include "contract/checkpoint_layout.h"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "model/io/safetensors.h"
#include "model/io/safetensors_stream_writer.h"
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
  RankSnapshot snapshot;
  snapshot.step = step;
  snapshot.tensors = tensors;
  snapshot.metadata = rank_metadata;
  snapshot.train_state = std::move(train_state);
  snapshot.keep_last = keep_last;
  return WriteRank(world, snapshot);
}

namespace {

constexpr auto kAgreementTimeout = std::chrono::hours(24);  // a dead peer ends the attempt first
constexpr const char* kErrorKey = "error";

// Await's value, or a c10::Error carrying the failure another rank posted.
nlohmann::json AwaitJson(dist::Communicator& world, const std::string& key) {
  nlohmann::json v = nlohmann::json::parse(world.Await(key, kAgreementTimeout));
  TORCH_CHECK(!v.contains(kErrorKey), "checkpoint: ", v.at(kErrorKey).get<std::string>());
  return v;
}

// Test-only: a pause after this rank's shard file is written and before it reports it, so a test
// can kill a rank in the middle of an (asynchronous) checkpoint.
void PauseForTests() {
  if (const char* s = std::getenv("BAGEL_TEST_CHECKPOINT_PAUSE_S"); s && *s) {
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(s)));
  }
}

}  // namespace

WriteResult CheckpointStore::WriteRank(dist::Communicator& world, const RankSnapshot& snap) {
  const auto start = std::chrono::steady_clock::now();
  const std::string prefix = "ckpt/" + std::to_string(writes_++) + "/";
  const fs::path job(job_dir_);
  const fs::path staging =
      job / (contract::StepDirName(snap.step) + std::string(contract::kStagingSuffix));
  const bool zero = world.rank() == 0;
  // What the others wait for next, where this rank posts a failure of its own.
  std::string failure_key =
      zero ? prefix + "staging" : prefix + "rank/" + std::to_string(world.rank());
  WriteResult result;
  try {
    if (zero) {
      fs::create_directories(job);
      fs::remove_all(staging);
      fs::create_directories(staging);
      world.Post(prefix + "staging", "{}");
      failure_key = prefix + "published";
    } else {
      AwaitJson(world, prefix + "staging");
    }
    // This rank's shard file, hashed as it is written.
    const std::string mine = contract::RankFileName(world.rank(), world.size());
    std::vector<io::TensorLayout> layout;
    for (const auto& [name, t] : snap.tensors) {
      TORCH_CHECK(t.defined(), "checkpoint tensor '", name, "' is undefined");
      layout.push_back({name, t.scalar_type(), t.sizes().vec()});
    }
    Sha256 hash;
    io::SafetensorsStreamWriter writer((staging / mine).string(), std::move(layout), snap.metadata,
                                       [&](const void* d, size_t n) { hash.Update(d, n); });
    for (const auto& [name, t] : snap.tensors) writer.Write(name, t);
    const int64_t bytes = writer.Finish();
    PauseForTests();
    nlohmann::json digest = {{"name", mine},
                             {"bytes", bytes},
                             {"sha256", hash.HexFinish()},
                             {"metadata", snap.metadata}};
    if (zero) {
      Publish(world, snap, prefix, digest, result);
    } else {
      world.Post(prefix + "rank/" + std::to_string(world.rank()), digest.dump());
      failure_key.clear();  // rank 0 reports from here on
      const nlohmann::json published = AwaitJson(world, prefix + "published");
      result.path = published.at("path").get<std::string>();
      result.bytes = published.at("bytes").get<int64_t>();
    }
  } catch (const std::exception& e) {
    if (!failure_key.empty()) {
      try {
        const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
        const std::string why = c10_error ? c10_error->what_without_backtrace() : e.what();
        world.Post(failure_key,
                   nlohmann::json{{kErrorKey, "rank " + std::to_string(world.rank()) + ": " + why}}
                       .dump());
      } catch (...) {  // the error that matters is this one
      }
    }
    throw;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

void CheckpointStore::Publish(dist::Communicator& world, const RankSnapshot& snap,
                              const std::string& prefix, const nlohmann::json& own_digest,
                              WriteResult& result) {
  const fs::path job(job_dir_);
  const fs::path staging =
      job / (contract::StepDirName(snap.step) + std::string(contract::kStagingSuffix));
  const fs::path target = job / contract::StepDirName(snap.step);
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json ranks = nlohmann::json::array();
  for (int r = 0; r < world.size(); ++r) {
    nlohmann::json d = r == 0 ? own_digest : AwaitJson(world, prefix + "rank/" + std::to_string(r));
    ranks.push_back(d.at("metadata"));
    d.erase("metadata");
    files.push_back(std::move(d));
  }
  nlohmann::json train_state =
      snap.train_state.is_null() ? nlohmann::json::object() : snap.train_state;
  train_state["step"] = snap.step;
  train_state["world_size"] = world.size();
  train_state["ranks"] = ranks;
  const std::string state_text = train_state.dump(2) + "\n";
  WriteTextAtomically(staging / contract::kTrainStateFile, state_text);
  Sha256 state_hash;
  state_hash.Update(state_text);
  files.push_back({{"name", contract::kTrainStateFile},
                   {"bytes", static_cast<int64_t>(state_text.size())},
                   {"sha256", state_hash.HexFinish()}});
  for (const auto& f : files) result.bytes += f["bytes"].get<int64_t>();
  const nlohmann::json manifest = {{"format", "bagel-checkpoint/1"},
                                   {"step", snap.step},
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
                 job / (contract::StepDirName(snap.step) + std::string(contract::kCorruptSuffix)));
      fs::rename(staging, target);
    }
  } else {
    fs::rename(staging, target);
  }
  Fsync(job);
  WriteTextAtomically(job / contract::kLatestFile, contract::StepDirName(snap.step) + "\n");
  Fsync(job);
  result.path = target.string();
  result.pruned = Prune(snap.keep_last);
  world.Post(prefix + "published",
             nlohmann::json{{"path", result.path}, {"bytes", result.bytes}}.dump());
}

std::map<std::string, ManifestFile> CheckpointStore::CheckManifest(const std::string& step_dir) {
  const fs::path dir(step_dir);
  const fs::path manifest_path = dir / contract::kManifestFile;
  TORCH_CHECK(fs::exists(manifest_path), step_dir, ": no MANIFEST.json (incomplete checkpoint)");
  const nlohmann::json manifest = ReadJsonFile(manifest_path);
  TORCH_CHECK(
      manifest.contains("files") && manifest["files"].is_array() && manifest.contains("world_size"),
      manifest_path.string(), ": malformed manifest");
  std::map<std::string, ManifestFile> listed;
  try {
    for (const auto& f : manifest["files"]) {
      listed[f.at("name").get<std::string>()] = {f.at("bytes").get<int64_t>(),
                                                 f.at("sha256").get<std::string>()};
    }
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, manifest_path.string(), ": malformed manifest: ", e.what());
  }
  for (const auto& [name, f] : listed) {
    const fs::path path = dir / name;
    TORCH_CHECK(fs::exists(path), step_dir, ": ", name, " is missing");
    const int64_t bytes = static_cast<int64_t>(fs::file_size(path));
    TORCH_CHECK(bytes == f.bytes, step_dir, ": ", name, " has ", bytes,
                " bytes, the manifest says ", f.bytes);
  }
  const int world = manifest["world_size"].get<int>();
  TORCH_CHECK(listed.count(std::string(contract::kTrainStateFile)), step_dir,
              ": the manifest lists no train_state.json");
  for (int r = 0; r < world; ++r) {
    TORCH_CHECK(listed.count(contract::RankFileName(r, world)), step_dir,
                ": the manifest lists no ", contract::RankFileName(r, world));
  }
  const std::string state(contract::kTrainStateFile);
  TORCH_CHECK(Sha256File((dir / state).string()) == listed.at(state).sha256, step_dir, ": ", state,
              " does not match its SHA-256 (corrupt)");
  return listed;
}

void CheckpointStore::Validate(const std::string& step_dir) {
  for (const auto& [name, f] : CheckManifest(step_dir)) {
    TORCH_CHECK(Sha256File((fs::path(step_dir) / name).string()) == f.sha256, step_dir, ": ", name,
                " does not match its SHA-256 (corrupt)");
  }
}

std::shared_ptr<io::SafetensorsFile> CheckpointStore::ReadVerified(const std::string& step_dir,
                                                                   const std::string& name,
                                                                   const ManifestFile& expected) {
  const std::string path = (fs::path(step_dir) / name).string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TORCH_CHECK(fd >= 0, path, ": cannot open: ", std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  at::Tensor bytes = at::empty({expected.bytes}, at::kByte);
  auto* p = bytes.mutable_data_ptr<uint8_t>();
  Sha256 hash;
  // One pass: chunk k is hashed on a second thread while chunk k + 1 is read.
  std::future<void> hashing;
  auto hash_chunk = [&](int64_t begin, int64_t n) {
    if (hashing.valid()) hashing.get();
    hashing = std::async(std::launch::async,
                         [&hash, p, begin, n] { hash.Update(p + begin, static_cast<size_t>(n)); });
  };
  constexpr int64_t kChunk = 32 << 20;
  int64_t done = 0, hashed = 0;
  bool longer = false;
  std::string failure;
  while (true) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(expected.bytes - done, kChunk));
    uint8_t probe = 0;
    const ssize_t n = want > 0 ? ::read(fd, p + done, want) : ::read(fd, &probe, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failure = std::strerror(errno);
      break;
    }
    if (n == 0) break;
    if (want == 0) {
      longer = true;
      break;
    }
    done += n;
    if (done - hashed >= kChunk || done == expected.bytes) {
      hash_chunk(hashed, done - hashed);
      hashed = done;
    }
  }
  ::close(fd);
  if (hashing.valid()) hashing.get();
  TORCH_CHECK(failure.empty(), path, ": read failed: ", failure);
  TORCH_CHECK(!longer && done == expected.bytes, step_dir, ": ", name, " has ",
              longer ? "more" : "fewer", " bytes than the manifest's ", expected.bytes);
  TORCH_CHECK(hash.HexFinish() == expected.sha256, step_dir, ": ", name,
              " does not match its SHA-256 (corrupt)");
  return io::SafetensorsFile::FromBytes(path, std::move(bytes));
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

std::vector<std::string> CheckpointStore::CandidatesNewestFirst(
    std::vector<std::string>* problems) const {
  const fs::path job(job_dir_);
  std::vector<std::string> names;
  if (fs::exists(job / contract::kLatestFile)) {
    std::ifstream in(job / contract::kLatestFile);
    std::string name;
    in >> name;
    if (contract::StepOfDirName(name)) names.push_back(name);
  }
  auto steps = PublishedSteps();
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    names.push_back(contract::StepDirName(*it));
  std::set<std::string> tried;
  std::vector<std::string> out;
  for (const auto& name : names) {
    if (!tried.insert(name).second) continue;
    try {
      CheckManifest((job / name).string());
      out.push_back((job / name).string());
    } catch (const c10::Error& e) {
      if (problems) problems->push_back(e.what_without_backtrace());
    }
  }
  return out;
}

std::optional<std::string> CheckpointStore::FindLatestComplete(std::vector<std::string>* problems,
                                                               bool full) const {
  for (const std::string& dir : CandidatesNewestFirst(problems)) {
    if (!full) return dir;
    try {
      Validate(dir);
      return dir;
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
