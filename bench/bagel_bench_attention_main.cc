// bagel-bench-attention: one layer's packed attention, forward and backward, at the head shapes
// of a given model over a packed sequence of many samples and splits (docs/BENCHMARKS.md).
//
//   bagel-bench-attention [--tokens 32768] [--splits 100] [--heads 28] [--kv-heads 4]
//                         [--head-dim 128] [--device cpu|cuda] [--dtype bf16|fp32]
//                         [--sdpa-priority default|cudnn-last|cudnn-first] [--iters 5]
//
// The layout is random but seeded: samples of 2 to 6 splits each (a causal text split, then
// full ViT / noise splits and causal text, as VLM, T2I and edit samples pack), lengths drawn so
// that the splits fill --tokens. Prints the layout, the median forward and forward+backward
// times and, last, one line:
//   tokens=32768 splits=100 samples=27 heads=28/4 head_dim=128 fwd_s=... fwd_bwd_s=... tflops=...
// where tflops counts the attention's useful FLOPs (4 * visible query-key pairs * head_dim * heads
// forward, 2.5x that for forward+backward) over the forward+backward time.
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/attention_option.h"
#include "bench/device_memory.h"
#include "model/attention/attention_layout.h"
#include "model/attention/packed_attention.h"
#include "model/runtime/matmul_precision.h"
#include "model/tools/tool_main.h"

namespace {

struct Layout {
  std::vector<int64_t> sample_lens, split_lens;
  std::vector<bagel::AttnMode> modes;
};

// Samples of 2..6 splits until `splits` splits exist, then lengths scaled to `tokens`.
Layout RandomLayout(int64_t tokens, int64_t splits, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Layout l;
  std::vector<std::vector<std::pair<double, bagel::AttnMode>>> samples;
  int64_t made = 0;
  while (made < splits) {
    const int64_t n = std::min<int64_t>(2 + static_cast<int64_t>(rng() % 5), splits - made);
    std::vector<std::pair<double, bagel::AttnMode>> s;
    for (int64_t k = 0; k < n; ++k) {
      const bool text = k % 2 == 0;
      const bagel::AttnMode mode =
          text ? bagel::AttnMode::kCausal
               : (rng() % 2 ? bagel::AttnMode::kFull : bagel::AttnMode::kNoise);
      // Text splits are short, image splits long (hundreds to a thousand latent/ViT tokens).
      const double weight = text ? 0.2 + (rng() % 100) / 100.0 : 1.0 + (rng() % 300) / 100.0;
      s.emplace_back(weight, mode);
    }
    made += n;
    samples.push_back(std::move(s));
  }
  double total = 0;
  for (const auto& s : samples)
    for (const auto& [w, m] : s) total += w;
  int64_t used = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    int64_t sample = 0;
    for (size_t k = 0; k < samples[i].size(); ++k) {
      const bool last = i + 1 == samples.size() && k + 1 == samples[i].size();
      const int64_t len =
          last ? tokens - used
               : std::max<int64_t>(1, static_cast<int64_t>(samples[i][k].first / total *
                                                           static_cast<double>(tokens)));
      l.split_lens.push_back(len);
      l.modes.push_back(samples[i][k].second);
      sample += len;
      used += len;
    }
    l.sample_lens.push_back(sample);
  }
  return l;
}

// Query-key pairs the layout lets attend, per head (the useful work of attention).
double VisiblePairs(const Layout& l) {
  double pairs = 0;
  size_t split = 0;
  for (int64_t sample : l.sample_lens) {
    int64_t visible = 0;  // earlier non-noise tokens of the sample
    for (int64_t seen = 0; seen < sample; ++split) {
      const auto len = static_cast<double>(l.split_lens[split]);
      const bool causal = l.modes[split] == bagel::AttnMode::kCausal;
      pairs += len * static_cast<double>(visible) + (causal ? len * (len + 1) / 2 : len * len);
      if (l.modes[split] != bagel::AttnMode::kNoise) visible += l.split_lens[split];
      seen += l.split_lens[split];
    }
  }
  return pairs;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time one layer's packed attention, forward and backward"};
  int64_t tokens = 32768, splits = 100, heads = 28, kv_heads = 4, head_dim = 128;
  int iters = 5, threads = 2;
  uint64_t seed = 0;
  std::string device_name = "cpu", dtype_name = "bf16", sdpa_priority = "default";
  std::string attention = "auto";
  app.add_option("--tokens", tokens, "packed sequence length");
  app.add_option("--splits", splits, "attention splits in the sequence");
  app.add_option("--heads", heads, "query heads");
  app.add_option("--kv-heads", kv_heads, "key/value heads (GQA)");
  app.add_option("--head-dim", head_dim, "head dimension");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_option("--dtype", dtype_name, "bf16 or fp32");
  app.add_option("--sdpa-priority", sdpa_priority, "default, cudnn-last or cudnn-first");
  app.add_option("--attention", attention,
                 "auto (flash varlen where it runs), split (SDPA per split) or varlen");
  app.add_option("--iters", iters, "timed iterations after one warm-up");
  app.add_option("--threads", threads, "intra-op CPU threads");
  app.add_option("--seed", seed, "layout and data seed");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-bench-attention", [&] {
    TORCH_CHECK(tokens > 0 && splits > 0 && splits <= tokens, "--splits must be in [1, --tokens]");
    TORCH_CHECK(heads > 0 && kv_heads > 0 && heads % kv_heads == 0,
                "--heads must be a positive multiple of --kv-heads");
    at::set_num_threads(threads);
    const at::Device device(device_name);
    const at::ScalarType dtype = bagel::ParseDtype(dtype_name);
    bagel::SetSdpaPriority(sdpa_priority);
    bagel::bench::ApplyAttentionOption(attention);
    if (device.is_cuda()) bagel::UseFloat32Accumulation();
    const Layout l = RandomLayout(tokens, splits, seed);
    const bagel::AttentionLayout layout =
        bagel::AttentionLayout::FromSplits(l.sample_lens, l.split_lens, l.modes, tokens);
    at::manual_seed(static_cast<int64_t>(seed));
    const auto options = at::TensorOptions().dtype(dtype).device(device);
    at::Tensor q = at::randn({tokens, heads, head_dim}, options).requires_grad_(true);
    at::Tensor k = at::randn({tokens, kv_heads, head_dim}, options).requires_grad_(true);
    at::Tensor v = at::randn({tokens, kv_heads, head_dim}, options).requires_grad_(true);
    at::Tensor grad = at::randn({tokens, heads, head_dim}, options);
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    auto seconds = [&](bool backward) {
      bagel::bench::Synchronize(device);
      const auto start = std::chrono::steady_clock::now();
      at::Tensor out = bagel::PackedAttention(q, k, v, layout, scale);
      if (backward) out.backward(grad);
      bagel::bench::Synchronize(device);
      q.mutable_grad().reset();
      k.mutable_grad().reset();
      v.mutable_grad().reset();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    seconds(true);  // warm-up
    std::vector<double> fwd, fwd_bwd;
    for (int i = 0; i < iters; ++i) {
      {
        at::NoGradGuard no_grad;
        fwd.push_back(seconds(false));
      }
      fwd_bwd.push_back(seconds(true));
    }
    const double pairs = VisiblePairs(l);
    const double flops = 2.5 * 4.0 * pairs * static_cast<double>(head_dim * heads);
    const double t = Median(fwd_bwd);
    std::printf(
        "device=%s dtype=%s attention=%s sdpa_priority=%s samples=%zu "
        "visible_pairs_per_head=%.3g\n",
        device_name.c_str(), dtype_name.c_str(),
        bagel::AttentionKernelName(device, dtype, head_dim).c_str(), sdpa_priority.c_str(),
        l.sample_lens.size(), pairs);
    std::printf(
        "tokens=%ld splits=%ld samples=%zu heads=%ld/%ld head_dim=%ld fwd_s=%.4f "
        "fwd_bwd_s=%.4f tflops=%.2f\n",
        static_cast<long>(tokens), static_cast<long>(splits), l.sample_lens.size(),
        static_cast<long>(heads), static_cast<long>(kv_heads), static_cast<long>(head_dim),
        Median(fwd), t, flops / t / 1e12);
  });
}
