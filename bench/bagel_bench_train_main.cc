// bagel-bench-train: full training steps (forward, backward, gradient reduction, AdamW, EMA) of
// the fully sharded trainer on a BENCH.md configuration, on N local ranks.
//
//   bagel-bench-train --config tiny|small --stage 1|2 [--ranks N] [--iters N] [--threads T]
//                     [--device cpu|cuda] [--dtype fp32|bf16] [--activation-checkpointing]
//
// Every rank trains its own random batch of the configuration's shapes. Reported: step time,
// tokens/s over all ranks, executed FLOP/s against the machine's fp32 matmul rate (CPU) or BAGEL's
// MFU (GPU), peak memory, and how much of the parameter all-gather time the prefetching hides:
// the time spent waiting for gathers with prefetching on, against the same steps with it off
// (where every gather is waited for). Last line:
//   config=small stage=1 ranks=2 tokens=3952 step_s=... tokens_per_s=... threads=1
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/attention_option.h"
#include "bench/bench_batches.h"
#include "bench/device_memory.h"
#include "bench/machine_rate.h"
#include "model/bagel/flop_count.h"
#include "model/config/presets.h"
#include "model/runtime/host_allocator.h"
#include "model/tools/tool_main.h"
#include "worker/dist/communicator.h"
#include "worker/dist/local_launcher.h"
#include "worker/fsdp/fsdp_engine.h"
#include "worker/trainer/sharded_step.h"

namespace {

double PeakRssBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time sharded BAGEL training steps on N local ranks"};
  std::string config_name = "small", device_name = "cpu", dtype_name = "fp32";
  int stage = 1, ranks = 1, iters = 3, threads = 0;
  bool activation_checkpointing = false;
  app.add_option("--config", config_name, "tiny, small or medium");
  app.add_option("--stage", stage, "1 or 2");
  app.add_option("--ranks", ranks, "local ranks (processes)");
  app.add_option("--iters", iters, "timed steps after one warm-up (twice: prefetch on, then off)");
  app.add_option("--threads", threads, "intra-op threads per rank (default: cores / ranks)");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_option("--dtype", dtype_name, "fp32 or bf16 compute");
  app.add_flag("--activation-checkpointing", activation_checkpointing,
               "recompute layers in backward");
  std::string attention = "auto";
  app.add_option("--attention", attention,
                 "auto (flash varlen where it runs), split (SDPA per split) or varlen");
  CLI11_PARSE(app, argc, argv);
  int status = 0;
  const int rc = bagel::RunToolMain("bagel-bench-train", [&] {
    bagel::KeepFreedHostMemoryInProcess();
    bagel::bench::ApplyAttentionOption(attention);  // here and in the ranks' environment
    if (ranks > 1 && std::getenv("RANK") == nullptr) {
      // The launcher measures the machine's matmul rate with every core, then starts the ranks.
      const double rate = bagel::bench::MeasureCpuMatmulFlops();
      ::setenv("BAGEL_MACHINE_FLOPS", std::to_string(rate).c_str(), 1);
      std::vector<std::string> args = {bagel::dist::SelfExecutable()};
      for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
      status = bagel::dist::LaunchLocalRanks(ranks, args);
      return;
    }
    const bagel::dist::DistEnv env = bagel::dist::DistEnv::FromEnvironment();
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int nthreads = threads > 0 ? threads : std::max(1, cores / env.world_size);
    at::set_num_threads(nthreads);
    const at::Device device =
        device_name == "cuda" ? at::Device(at::kCUDA, env.local_rank) : at::Device(at::kCPU);
    const at::ScalarType dtype = bagel::ParseDtype(dtype_name);

    bagel::BagelConfig config = bagel::PresetConfig(config_name);
    bagel::PrepareConfigForStage(config, stage);
    bagel::BagelForUnifiedMultimodal model(config, at::TensorOptions().dtype(at::kFloat));
    model.InitializeWeights(0);
    {
      at::NoGradGuard no_grad;
      if (model.model->llm2vae) model.model->llm2vae->weight.normal_(0.0, 0.02);
    }
    auto world = bagel::dist::Communicator::Create(env, device, std::chrono::seconds(600));
    bagel::fsdp::FsdpOptions fo;
    fo.device = device;
    fo.compute_dtype = dtype;
    fo.activation_checkpointing = activation_checkpointing;
    bagel::fsdp::FsdpEngine engine(model, world, fo);
    engine.InitFromModel();
    bagel::train::StepHyper hyper;
    hyper.schedule.lr = 1e-5;
    hyper.ema_decay = 0.999;
    bagel::train::ShardedStep step(model, engine, hyper);
    bagel::PackedBatch cpu_batch =
        bagel::bench::BenchBatch(config_name, stage, config, 100 + env.rank);
    const bagel::PackedBatch batch = cpu_batch.To(device, dtype);

    auto run = [&](int n, std::vector<double>* times, double* wait) {
      const double wait_before = engine.gather_wait_seconds();
      for (int i = 0; i < n; ++i) {
        bagel::bench::Synchronize(device);
        world->Barrier();
        auto t0 = std::chrono::steady_clock::now();
        step.Run({batch});
        bagel::bench::Synchronize(device);
        world->Barrier();
        if (times)
          times->push_back(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      if (wait) *wait = engine.gather_wait_seconds() - wait_before;
    };
    run(1, nullptr, nullptr);  // warm-up
    // One rank: the same batch's plain forward + backward (no engine, no optimizer), in this
    // run, so the step's overhead over it is measured on the same machine state.
    double fwd_bwd = 0;
    if (env.world_size == 1) {
      bagel::BagelForUnifiedMultimodal plain(config, at::TensorOptions().dtype(at::kFloat));
      plain.InitializeWeights(0);
      plain.to(device, dtype);
      std::vector<double> plain_times;
      for (int i = 0; i <= iters; ++i) {
        for (auto& p : plain.parameters()) p.mutable_grad().reset();
        bagel::bench::Synchronize(device);
        auto t0 = std::chrono::steady_clock::now();
        bagel::ForwardOutputs out = plain.Forward(batch);
        at::Tensor loss = at::zeros({}, at::TensorOptions().device(device));
        if (out.ce.defined()) loss = loss + out.ce.to(at::kFloat).mean();
        if (out.mse.defined()) loss = loss + out.mse.to(at::kFloat).mean();
        loss.backward();
        bagel::bench::Synchronize(device);
        if (i > 0)
          plain_times.push_back(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      fwd_bwd = Median(plain_times);
    }
    std::vector<double> times, times_off;
    double wait_on = 0, wait_off = 0;
    run(iters, &times, &wait_on);
    engine.set_prefetch(false);
    run(iters, &times_off, &wait_off);
    engine.set_prefetch(true);

    // Totals over ranks: tokens, executed FLOPs, gather waits, memory.
    const auto flops = bagel::ExecutedFlops(model.config(), cpu_batch);
    at::Tensor totals =
        at::tensor({static_cast<double>(batch.sequence_length), flops.total(), wait_on, wait_off,
                    PeakRssBytes(), bagel::bench::PeakDeviceMemory(device)},
                   at::TensorOptions().dtype(at::kDouble))
            .to(device);
    world->AllReduceSum(totals);
    totals = totals.to(at::kCPU);
    if (env.rank != 0) return;
    const double median = Median(times);
    const double tokens = totals[0].item<double>();
    const double rate = std::getenv("BAGEL_MACHINE_FLOPS")
                            ? std::atof(std::getenv("BAGEL_MACHINE_FLOPS"))
                            : bagel::bench::MeasureCpuMatmulFlops();
    const double hidden = totals[3].item<double>() > 0
                              ? 1.0 - totals[2].item<double>() / totals[3].item<double>()
                              : 0.0;
    std::printf(
        "device=%s dtype=%s config=%s stage=%d ranks=%d threads_per_rank=%d iters=%d "
        "activation_checkpointing=%d attention: %s\n",
        device_name.c_str(), dtype_name.c_str(), config_name.c_str(), stage, env.world_size,
        nthreads, iters, activation_checkpointing ? 1 : 0,
        bagel::bench::AttentionKernels(config, device, dtype).c_str());
    std::printf(
        "step_s (fwd+bwd+reduce+AdamW+EMA): median=%.4f min=%.4f | prefetch off: median=%.4f\n",
        median, *std::min_element(times.begin(), times.end()), Median(times_off));
    std::printf(
        "gather wait per step: prefetch on %.4f s, off %.4f s -> %.0f%% of all-gather time hidden "
        "behind compute\n",
        totals[2].item<double>() / env.world_size / iters,
        totals[3].item<double>() / env.world_size / iters, 100.0 * std::max(0.0, hidden));
    std::printf(
        "executed_flops_per_step=%.4g (all ranks, forward+backward) executed_flops_per_s=%.4g\n",
        totals[1].item<double>(), totals[1].item<double>() / median);
    if (device.is_cpu()) {
      std::printf("machine_fp32_matmul_flops_per_s=%.4g fraction_of_matmul_rate=%.3f\n", rate,
                  totals[1].item<double>() / median / rate);
      std::printf("peak_rss_bytes: total %.0f, per rank %.0f\n", totals[4].item<double>(),
                  totals[4].item<double>() / env.world_size);
    } else {
      std::printf(
          "peak_device_memory_bytes per rank %.0f bagel_mfu=%.4f (BAGEL's formula, 989 TFLOP/s "
          "bf16 peak per GPU)\n",
          totals[5].item<double>() / env.world_size,
          bagel::BagelMfuFlops(model.config(), tokens, 0) / median / (989e12 * env.world_size));
    }
    if (fwd_bwd > 0) {
      std::printf(
          "plain forward+backward of the same batch (no engine, no optimizer): %.4f s -> the "
          "step is %.2fx it\n",
          fwd_bwd, median / fwd_bwd);
    }
    std::printf(
        "config=%s stage=%d ranks=%d tokens=%.0f step_s=%.3f tokens_per_s=%.1f threads=%d "
        "step_vs_fwd_bwd=%.2f\n",
        config_name.c_str(), stage, env.world_size, tokens, median, tokens / median, nthreads,
        fwd_bwd > 0 ? median / fwd_bwd : 0.0);
    std::fflush(stdout);
  });
  return rc != 0 ? rc : status;
}
