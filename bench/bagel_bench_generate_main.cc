// bagel-bench-generate: the time to generate one image (docs/INFERENCE.md): a Stage 2 model of a
// BENCH.md configuration and a VAE of the real FLUX shape (ch 128, ch_mult [1,2,4,4], 2 res
// blocks, z 16), both with random weights; a random prompt; the notebook's T2I recipe (50
// timesteps, shift 3.0, cfg_text 4.0, cfg_img 1.0, interval [0.4, 1.0], global renorm).
//
//   bagel-bench-generate [--config small] [--size 512] [--steps 50] [--threads 2] [--iters 1]
//                        [--prompt-len 32] [--seed 0] [--device cpu|cuda] [--dtype fp32|bf16]
//
// With --iters N the whole generation (prefill, denoising, decode) runs N times and each phase
// reports its fastest run (the figure least disturbed by other load on a shared machine) and its
// median. The last line reads, e.g.,
//   config=small image=512x512 steps=50 llm_passes=90 prefill_s=0.4 denoise_s=25.3 decode_s=6.6
//   total_s=32.3 threads=2 iters=3 (fastest of each phase)
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "bench/device_memory.h"
#include "model/config/presets.h"
#include "model/inference/context_prefill.h"
#include "model/inference/image_generation.h"
#include "model/runtime/host_allocator.h"
#include "model/tools/tool_main.h"

namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Phase {
  std::vector<double> runs;
  double Min() const { return *std::min_element(runs.begin(), runs.end()); }
  double Median() const {
    std::vector<double> s = runs;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time BAGEL text-to-image generation (denoising and VAE decode)"};
  std::string config_name = "small", device_name = "cpu", dtype_name = "fp32";
  int threads = 2, steps = 50, prompt_len = 32, iters = 1;
  int64_t size = 512;
  uint64_t seed = 0;
  app.add_option("--config", config_name, "tiny, small or medium (BENCH.md)");
  app.add_option("--size", size, "image side in pixels (multiple of 16)");
  app.add_option("--steps", steps, "timesteps (50: 49 Euler steps)");
  app.add_option("--threads", threads, "intra-op CPU threads");
  app.add_option("--prompt-len", prompt_len, "prompt length in tokens");
  app.add_option("--iters", iters, "generations to time (each phase reports its fastest)");
  app.add_option("--seed", seed, "weights, prompt and noise seed");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_option("--dtype", dtype_name, "fp32 or bf16");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-bench-generate", [&] {
    bagel::KeepFreedHostMemoryInProcess();
    at::set_num_threads(threads);
    const at::Device device(device_name);
    const at::TensorOptions options =
        at::TensorOptions().dtype(bagel::ParseDtype(dtype_name)).device(device);

    bagel::BagelConfig config = bagel::PresetConfig(config_name);
    bagel::PrepareConfigForStage(config, 2);
    bagel::InferenceModel model;
    model.bagel = std::make_shared<bagel::BagelForUnifiedMultimodal>(config, at::kFloat);
    model.bagel->InitializeWeights(seed);
    {
      // llm2vae starts at zero, which would make every velocity zero.
      at::NoGradGuard no_grad;
      at::manual_seed(seed);
      model.bagel->model->llm2vae->weight.normal_(0.0, 0.02);
    }
    model.bagel->to(device, options.dtype().toScalarType());
    model.bagel->eval();
    model.vae = std::make_shared<bagel::vae::FluxVae>(bagel::vae::FluxDevVaeParams(), at::kFloat);
    model.vae->InitializeRandom(seed + 1);
    model.vae->to(device, options.dtype().toScalarType());
    if (config.llm.vocab_size < 151654) model.tokens = {252, 253, 254, 255};
    model.CheckTokens();

    at::Generator gen = at::detail::createCPUGenerator(seed + 2);
    at::Tensor prompt = at::randint(0, std::min<int64_t>(config.llm.vocab_size, 150000),
                                    {prompt_len}, gen, at::kLong);
    std::vector<int64_t> ids(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt_len);

    bagel::ImageGenerationOptions o;  // the notebook's T2I recipe
    o.num_timesteps = steps;
    o.timestep_shift = 3.0;
    o.cfg_text_scale = 4.0;
    o.cfg_img_scale = 1.0;
    o.cfg_interval_lo = 0.4;
    o.cfg_interval_hi = 1.0;
    o.cfg_renorm_type = bagel::CfgRenormType::kGlobal;
    o.generator = at::detail::createCPUGenerator(seed + 3);
    int passes = 0;
    const at::Tensor ts = bagel::ShiftedTimesteps(steps, o.timestep_shift);
    for (int i = 0; i + 1 < steps; ++i) {
      const float t = ts[i].item<float>();
      passes += (t > 0.4f && t <= 1.0f) ? 2 : 1;
    }

    TORCH_CHECK(iters >= 1, "--iters must be at least 1");
    Phase prefill, denoise, decode;
    at::Tensor latent, image;
    // The fastest step seen with and without CFG passes, over every run: on a shared machine,
    // steps * fastest step estimates an undisturbed denoising time.
    double fastest_cfg_step = 1e30, fastest_plain_step = 1e30;
    for (int it = 0; it < iters; ++it) {
      o.generator = at::detail::createCPUGenerator(seed + 3);
      auto t0 = std::chrono::steady_clock::now();
      bagel::GenerationContexts ctx;  // interleave_inference for [text]
      ctx.cond = bagel::PrefillText(model, {}, ids);
      ctx.cfg_img = ctx.cond;
      bagel::bench::Synchronize(device);
      prefill.runs.push_back(Since(t0));

      t0 = std::chrono::steady_clock::now();
      auto step_start = t0;
      o.progress = [&](int step, int total) {
        const double took = Since(step_start);
        step_start = std::chrono::steady_clock::now();
        const float t = ts[step - 1].item<float>();
        double& fastest = (t > 0.4f && t <= 1.0f) ? fastest_cfg_step : fastest_plain_step;
        fastest = std::min(fastest, took);
        if (step % 10 == 0 || step == total) {
          std::fprintf(stderr, "bagel-bench-generate: run %d step %d/%d %.1f s\n", it + 1, step,
                       total, Since(t0));
        }
      };
      latent = bagel::GenerateImageLatent(model, ctx, size, size, o);
      bagel::bench::Synchronize(device);
      denoise.runs.push_back(Since(t0));

      t0 = std::chrono::steady_clock::now();
      image = bagel::DecodeLatentImage(model, latent, size, size);
      bagel::bench::Synchronize(device);
      decode.runs.push_back(Since(t0));
      std::fprintf(stderr,
                   "bagel-bench-generate: run %d prefill %.3f s denoise %.3f s decode %.3f s\n",
                   it + 1, prefill.runs.back(), denoise.runs.back(), decode.runs.back());
    }

    std::printf("device=%s dtype=%s threads=%d config=%s prompt_tokens=%d latent_tokens=%lld\n",
                device_name.c_str(), dtype_name.c_str(), threads, config_name.c_str(), prompt_len,
                static_cast<long long>(latent.size(0)));
    std::printf("vae=%s image_mean=%.4f\n", model.vae->params().Describe().c_str(),
                image.mean().item<double>());
    int cfg_steps = 0;
    for (int i = 0; i + 1 < steps; ++i) {
      const float t = ts[i].item<float>();
      cfg_steps += (t > 0.4f && t <= 1.0f) ? 1 : 0;
    }
    std::printf("fastest_step_s: cfg=%.4f plain=%.4f -> undisturbed denoise estimate %.3f s\n",
                fastest_cfg_step, fastest_plain_step,
                cfg_steps * fastest_cfg_step + (steps - 1 - cfg_steps) * fastest_plain_step);
    std::printf("median: prefill_s=%.3f denoise_s=%.3f decode_s=%.3f\n", prefill.Median(),
                denoise.Median(), decode.Median());
    std::printf("per_llm_pass_s=%.4f per_step_s=%.4f (fastest run)\n", denoise.Min() / passes,
                denoise.Min() / (steps - 1));
    std::printf(
        "config=%s image=%lldx%lld steps=%d llm_passes=%d prefill_s=%.3f denoise_s=%.3f "
        "decode_s=%.3f total_s=%.3f threads=%d iters=%d\n",
        config_name.c_str(), static_cast<long long>(size), static_cast<long long>(size), steps,
        passes, prefill.Min(), denoise.Min(), decode.Min(),
        prefill.Min() + denoise.Min() + decode.Min(), threads, iters);
    std::fflush(stdout);
  });
}
