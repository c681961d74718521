// bagel-bench-checkpoint: how fast a training checkpoint of a BENCH.md configuration is written
// and read back, against dd on the same directory in the same run, and how long training waits
// for a synchronous and for an asynchronous checkpoint.
//
//   bagel-bench-checkpoint --config small|medium [--stage 1|2] [--dir DIR] [--repeats N]
//                          [--steps N] [--threads T] [--device cpu|cuda]
//
// One rank holds the whole model's shard state (float32 master, moments, EMA). Write: the
// checkpoint writer's path (files written and SHA-256 hashed in one pass, fsynced, manifest,
// rename, LATEST) against `dd if=/dev/zero bs=16M conv=fsync` of the same size; read: the resume
// path's verified read (one pass, hashed) against `dd of=/dev/null`, both from the disk (the
// page cache dropped for those files with posix_fadvise first; dd moves as many bytes, at most
// 4 GiB). Blocking: `--steps` training steps with a checkpoint after the second, once
// synchronous and once asynchronous; reported are the seconds the step loop waited for it, the
// write's own time and the median step time (the steps after it overlap an asynchronous write).
// Last line:
//   config=small stage=1 bytes=... write_mb_s=... dd_write_mb_s=... write_vs_dd=...
//   blocking_sync_s=... blocking_async_s=...
#include <ATen/Parallel.h>
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "bench/bench_batches.h"
#include "bench/device_memory.h"
#include "contract/checkpoint_layout.h"
#include "model/config/presets.h"
#include "model/runtime/host_allocator.h"
#include "model/tools/tool_main.h"
#include "worker/checkpoint/checkpoint_store.h"
#include "worker/checkpoint/checkpoint_writer.h"
#include "worker/dist/communicator.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/sharded_step.h"

namespace {

namespace fs = std::filesystem;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Drops a file's pages from the page cache (written back already: every file here is fsynced),
// so the next read comes from the disk.
void DropFromPageCache(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Seconds `command` took (a shell command; its output discarded).
double TimeCommand(const std::string& command) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system((command + " > /dev/null 2>&1").c_str());
  TORCH_CHECK(rc == 0, "`", command, "` failed (exit ", rc, ")");
  return Since(t0);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Checkpoint write/read throughput against dd, and sync vs async blocking"};
  std::string config_name = "small", dir = "bench-checkpoint", device_name = "cpu";
  int stage = 1, repeats = 3, steps = 6, threads = 0;
  app.add_option("--config", config_name, "tiny, small or medium");
  app.add_option("--stage", stage, "1 or 2");
  app.add_option("--dir", dir, "directory on the filesystem to measure (emptied first)");
  app.add_option("--repeats", repeats, "measurements of each throughput (the median is shown)");
  app.add_option("--steps", steps,
                 "training steps per blocking measurement (a checkpoint after the second)");
  app.add_option("--threads", threads, "intra-op threads (default: all cores)");
  app.add_option("--device", device_name, "cpu or cuda");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-bench-checkpoint", [&] {
    bagel::KeepFreedHostMemoryInProcess();
    if (threads > 0) at::set_num_threads(threads);
    const at::Device device =
        device_name == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
    bagel::BagelConfig config = bagel::PresetConfig(config_name);
    bagel::PrepareConfigForStage(config, stage);
    bagel::BagelForUnifiedMultimodal model(config, at::TensorOptions().dtype(at::kFloat));
    model.InitializeWeights(0);
    auto world = bagel::dist::Communicator::Create(bagel::dist::DistEnv{}, device,
                                                   std::chrono::seconds(600));
    bagel::fsdp::FsdpOptions fo;
    fo.device = device;
    bagel::fsdp::FsdpEngine engine(model, world, fo);
    engine.InitFromModel();

    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path root = fs::absolute(dir);

    // --- write and read throughput ---------------------------------------------------------
    bagel::ckpt::CheckpointStore store((root / "job").string());
    std::vector<double> write_s, read_s, dd_write_s, dd_read_s;
    int64_t bytes = 0;
    for (int i = 0; i < repeats; ++i) {
      bagel::ckpt::RankSnapshot snap;
      snap.step = i + 1;
      snap.tensors = engine.ShardState();
      snap.metadata = {{"data_position", "0"}};
      snap.keep_last = 1;
      const auto t0 = std::chrono::steady_clock::now();
      const auto result = store.WriteRank(*world, snap);
      write_s.push_back(Since(t0));
      bytes = result.bytes;

      const std::string name = bagel::contract::RankFileName(0, 1);
      const auto files = bagel::ckpt::CheckpointStore::CheckManifest(result.path);
      DropFromPageCache(fs::path(result.path) / name);
      const auto t1 = std::chrono::steady_clock::now();
      auto file = bagel::ckpt::CheckpointStore::ReadVerified(result.path, name, files.at(name));
      read_s.push_back(Since(t1));
      file.reset();

      // dd writes as much (at most 4 GiB: a rate, so that a large checkpoint and its dd twin need
      // not fit on the disk together).
      const int64_t blocks =
          std::clamp<int64_t>((bytes + (16 << 20) - 1) >> 24, 1, int64_t{4} << 30 >> 24);
      const fs::path dd_file = root / "dd.bin";
      dd_write_s.push_back(TimeCommand("dd if=/dev/zero of=" + dd_file.string() +
                                       " bs=16M count=" + std::to_string(blocks) + " conv=fsync"));
      DropFromPageCache(dd_file);
      dd_read_s.push_back(TimeCommand("dd if=" + dd_file.string() + " of=/dev/null bs=16M"));
      const double dd_bytes = static_cast<double>(blocks) * (16 << 20);
      dd_write_s.back() *= static_cast<double>(bytes) / dd_bytes;  // per checkpoint byte
      dd_read_s.back() *= static_cast<double>(bytes) / dd_bytes;
      fs::remove(dd_file);
    }
    const double mb = static_cast<double>(bytes) / 1e6;
    const double write_rate = mb / Median(write_s), dd_write_rate = mb / Median(dd_write_s);
    const double read_rate = mb / Median(read_s), dd_read_rate = mb / Median(dd_read_s);

    // --- blocking of the training loop -------------------------------------------------------
    bagel::train::StepHyper hyper;
    hyper.schedule.lr = 1e-5;
    hyper.ema_decay = 0.999;
    bagel::train::ShardedStep step(model, engine, hyper);
    const bagel::PackedBatch batch =
        bagel::bench::BenchBatch(config_name, stage, config, 100).To(device, at::kFloat);
    step.Run({batch});  // warm-up
    struct Blocking {
      double per_checkpoint_s = 0, write_s = 0, step_s = 0;
    };
    auto measure = [&](bool async) {
      bagel::ckpt::CheckpointStore s((root / (async ? "async" : "sync")).string());
      bagel::ckpt::CheckpointWriter writer(s, world, async);
      Blocking b;
      std::vector<double> step_times;
      int saves = 0;  // one, after the second step: the steps after it overlap its write
      for (int i = 1; i <= steps; ++i) {
        bagel::bench::Synchronize(device);
        const auto t0 = std::chrono::steady_clock::now();
        step.Run({batch});
        bagel::bench::Synchronize(device);
        step_times.push_back(Since(t0));
        if (i == 2) {
          bagel::ckpt::RankSnapshot snap;
          snap.step = i;
          snap.tensors = engine.ShardState(/*on_host=*/!async);
          snap.keep_last = 1;
          b.per_checkpoint_s += writer.Save(std::move(snap));
          ++saves;
        }
        while (auto done = writer.TakeFinished()) b.write_s += done->result.seconds;
      }
      writer.Wait();
      while (auto done = writer.TakeFinished()) b.write_s += done->result.seconds;
      b.per_checkpoint_s /= saves;
      b.write_s /= saves;
      b.step_s = Median(step_times);
      return b;
    };
    const Blocking sync = measure(false);
    fs::remove_all(root / "sync");
    const Blocking async = measure(true);
    fs::remove_all(dir);

    std::printf("device=%s config=%s stage=%d checkpoint_bytes=%lld dir=%s repeats=%d\n",
                device_name.c_str(), config_name.c_str(), stage, static_cast<long long>(bytes),
                root.c_str(), repeats);
    std::printf(
        "write: checkpoint %.1f MB/s (%.3f s, hashed in the same pass), dd %.1f MB/s -> "
        "%.2f of dd\n",
        write_rate, Median(write_s), dd_write_rate, write_rate / dd_write_rate);
    std::printf(
        "read (cold, verified): checkpoint %.1f MB/s (%.3f s), dd %.1f MB/s -> %.2f of dd\n",
        read_rate, Median(read_s), dd_read_rate, read_rate / dd_read_rate);
    std::printf(
        "training loop blocked per checkpoint: sync %.3f s, async %.3f s (its write %.3f s "
        "in the background); step %.3f s sync, %.3f s async\n",
        sync.per_checkpoint_s, async.per_checkpoint_s, async.write_s, sync.step_s, async.step_s);
    std::printf(
        "config=%s stage=%d bytes=%lld write_mb_s=%.1f dd_write_mb_s=%.1f write_vs_dd=%.2f "
        "read_mb_s=%.1f dd_read_mb_s=%.1f blocking_sync_s=%.3f blocking_async_s=%.3f\n",
        config_name.c_str(), stage, static_cast<long long>(bytes), write_rate, dd_write_rate,
        write_rate / dd_write_rate, read_rate, dd_read_rate, sync.per_checkpoint_s,
        async.per_checkpoint_s);
    std::fflush(stdout);
  });
}
