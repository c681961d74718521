// bagel-bench: forward + backward of one packed sequence for a named configuration of
// docs/BENCHMARKS.md, with random weights and a random batch of the stated shapes.
//
//   bagel-bench --config tiny|small|medium --stage 1|2 [--threads N] [--iters N]
//               [--device cpu|cuda] [--dtype fp32|bf16] [--batch FILE]
//
// Runs one warm-up step and N timed steps; prints peak memory, executed FLOP/s (against the
// machine's measured matmul rate on CPU; BAGEL's MFU on GPU) and, as its very last line,
//   config=small stage=1 tokens=1976 fwd+bwd_s=8.359 tokens_per_s=236.4 threads=2
// for the median step.
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "bench/attention_option.h"
#include "bench/bench_batches.h"
#include "bench/device_memory.h"
#include "bench/machine_rate.h"
#include "model/bagel/bagel_for_unified_multimodal.h"
#include "model/bagel/flop_count.h"
#include "model/bagel/packed_batch_file.h"
#include "model/config/presets.h"
#include "model/runtime/host_allocator.h"
#include "model/runtime/matmul_precision.h"
#include "model/tools/tool_main.h"

namespace {

constexpr double kGpuBf16PeakFlops = 989e12;  // H100 / H200 dense bf16, as BAGEL's logs use

double PeakRssBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time BAGEL forward+backward on a BENCH.md configuration"};
  std::string config_name = "small", device_name = "cpu", dtype_name = "fp32", batch_file;
  int stage = 1, threads = 2, iters = 3;
  uint64_t seed = 0;
  bool grouped_routing = false;
  app.add_option("--config", config_name, "tiny, small or medium");
  app.add_option("--stage", stage, "1 or 2");
  app.add_option("--threads", threads, "intra-op CPU threads");
  app.add_option("--iters", iters, "timed steps after one warm-up");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_option("--dtype", dtype_name, "fp32 or bf16");
  app.add_option("--batch", batch_file, "time this batch file instead of the generated one");
  app.add_option("--seed", seed, "weights and batch seed");
  app.add_flag("--grouped-routing", grouped_routing, "Stage 2: MoT routing in grouped order");
  std::string sdpa_priority = "default";
  app.add_option("--sdpa-priority", sdpa_priority,
                 "CUDA attention backend order: default, cudnn-last or cudnn-first");
  std::string attention = "auto";
  app.add_option("--attention", attention,
                 "auto (flash varlen where it runs), split (SDPA per split) or varlen");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-bench", [&] {
    bagel::KeepFreedHostMemoryInProcess();
    at::set_num_threads(threads);
    const at::Device device(device_name);
    const at::ScalarType dtype = bagel::ParseDtype(dtype_name);
    bagel::SetSdpaPriority(sdpa_priority);
    bagel::bench::ApplyAttentionOption(attention);
    if (device.is_cuda()) bagel::UseFloat32Accumulation();
    bagel::BagelConfig config = bagel::PresetConfig(config_name);
    bagel::PrepareConfigForStage(config, stage);
    bagel::BagelForUnifiedMultimodal model(config, at::TensorOptions().dtype(at::kFloat));
    model.InitializeWeights(seed);
    model.SetGroupedRouting(grouped_routing);
    {
      // llm2vae starts at zero; give it values so the generation path is exercised like training.
      at::NoGradGuard no_grad;
      if (model.model->llm2vae) model.model->llm2vae->weight.normal_(0.0, 0.02);
    }
    model.to(device, dtype);
    bagel::PackedBatch cpu_batch = batch_file.empty()
                                       ? bagel::bench::BenchBatch(config_name, stage, config, seed)
                                       : bagel::ReadPackedBatch(batch_file);
    cpu_batch.Validate(config.llm.vocab_size);
    bagel::PackedBatch batch = cpu_batch.To(device, dtype);

    std::vector<double> times;
    bagel::bench::ResetPeakDeviceMemory(device);
    for (int i = 0; i <= iters; ++i) {
      for (auto& p : model.parameters()) p.mutable_grad().reset();
      bagel::bench::Synchronize(device);
      auto t0 = std::chrono::steady_clock::now();
      bagel::ForwardOutputs out = model.Forward(batch);
      at::Tensor loss = at::zeros({}, at::TensorOptions().device(device));
      if (out.ce.defined()) loss = loss + out.ce.to(at::kFloat).mean();
      if (out.mse.defined()) loss = loss + out.mse.to(at::kFloat).mean();
      loss.backward();
      bagel::bench::Synchronize(device);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i > 0) times.push_back(s);
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const double tokens = static_cast<double>(batch.sequence_length);
    auto count = [](const at::Tensor& t) { return t.defined() ? t.numel() : 0; };
    const auto flops = bagel::ExecutedFlops(model.config(), cpu_batch);

    std::printf(
        "device=%s dtype=%s threads=%d config=%s stage=%d iters=%d sdpa_priority=%s attention: "
        "%s\n",
        device_name.c_str(), dtype_name.c_str(), threads, config_name.c_str(), stage, iters,
        sdpa_priority.c_str(), bagel::bench::AttentionKernels(config, device, dtype).c_str());
    std::printf(
        "batch: tokens=%lld samples=%zu ce_tokens=%lld mse_tokens=%lld vit_tokens=%lld "
        "latent_tokens=%lld\n",
        static_cast<long long>(batch.sequence_length), batch.sample_lens.size(),
        static_cast<long long>(count(batch.ce_loss_indexes)),
        static_cast<long long>(count(batch.mse_loss_indexes)),
        static_cast<long long>(count(batch.packed_vit_token_indexes)),
        static_cast<long long>(count(batch.packed_vae_token_indexes)));
    std::printf("step_s: median=%.4f min=%.4f max=%.4f\n", median, sorted.front(), sorted.back());
    std::printf(
        "executed_flops_per_step=%.4g (llm_linear=%.3g llm_attention=%.3g vit=%.3g connector=%.3g "
        "lm_head=%.3g gen_heads=%.3g)\n",
        flops.total(), flops.llm_linear, flops.llm_attention, flops.vit, flops.connector,
        flops.lm_head, flops.gen_heads);
    if (device.is_cpu()) {
      const double rate = bagel::bench::MeasureCpuMatmulFlops();
      std::printf("peak_rss_bytes=%.0f\n", PeakRssBytes());
      std::printf(
          "executed_flops_per_s=%.4g machine_fp32_matmul_flops_per_s=%.4g "
          "fraction_of_matmul_rate=%.3f\n",
          flops.total() / median, rate, flops.total() / median / rate);
    } else {
      const double mfu =
          bagel::BagelMfuFlops(model.config(), cpu_batch) / median / kGpuBf16PeakFlops;
      std::printf("peak_device_memory_bytes=%.0f peak_rss_bytes=%.0f\n",
                  bagel::bench::PeakDeviceMemory(device), PeakRssBytes());
      std::printf(
          "executed_flops_per_s=%.4g bagel_mfu=%.4f (BAGEL's formula over a 989 TFLOP/s bf16 peak; "
          "a convention, not executed work)\n",
          flops.total() / median, mfu);
    }
    std::printf("config=%s stage=%d tokens=%lld fwd+bwd_s=%.3f tokens_per_s=%.1f threads=%d\n",
                config_name.c_str(), stage, static_cast<long long>(batch.sequence_length), median,
                tokens / median, threads);
    std::fflush(stdout);
  });
}
