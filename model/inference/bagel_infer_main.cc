// bagel-infer: BAGEL inference from a checkpoint directory (BAGEL.md §5).
//
//   bagel-infer --checkpoint DIR --task und  --image IN.png --prompt "TEXT" [--out OUT.txt]
//   bagel-infer --checkpoint DIR --task t2i  --prompt "TEXT" --out OUT.png [--height H --width W]
//   bagel-infer --checkpoint DIR --task edit --image IN.png --prompt "TEXT" --out OUT.png
//   ... --adapter LORA_DIR    (a PEFT LoRA adapter applied to the checkpoint's weights)
//
// A text prompt is encoded by the checkpoint's tokenizer (or --tokenizer DIR; generated test
// models with a 256-row vocabulary use bytes, model/inference/prompt_codec.h); --prompt-ids gives
// token ids instead (space- or comma-separated, without <|im_start|> / <|im_end|>, which the
// model adds). Images are resized by the official inference transforms (VAE 1024/512/16, then
// ViT 980/224/14). Sampler settings default to the notebook's recipe of each task and can be
// overridden; everything random draws from --seed. Progress goes to stderr; the answer (und) to
// stdout: its ids, then its text when a prompt codec is available.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "model/config/bagel_config.h"
#include "model/config/stage.h"
#include "model/inference/image_io.h"
#include "model/inference/image_transform.h"
#include "model/inference/interleave_inference.h"
#include "model/inference/prompt_codec.h"
#include "model/lora/lora_adapters.h"
#include "model/runtime/host_allocator.h"
#include "model/tools/tool_main.h"

namespace {

std::vector<int64_t> ParseIds(const std::string& text, const char* what) {
  std::string s = text;
  for (char& ch : s) {
    if (ch == ',') ch = ' ';
  }
  std::istringstream in(s);
  std::vector<int64_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TORCH_CHECK(used == word.size() && id >= 0, what, ": '", word, "' is not a token id");
    ids.push_back(id);
  }
  return ids;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"BAGEL inference: understanding, text-to-image, editing"};
  std::string checkpoint, task, image_path, prompt, prompt_ids, prompt_ids_file, out, vae_path;
  std::string adapter;
  std::string tokenizer_dir;
  std::string device = "cpu", dtype = "fp32", stage, renorm, special;
  int threads = 0, steps = 50, max_length = 512;
  int64_t height = 1024, width = 1024;
  uint64_t seed = 0;
  double shift = 3.0, cfg_text = -1, cfg_img = -1, renorm_min = 0.0, temperature = 0.3;
  std::vector<double> interval;
  bool sample = false;
  app.add_option("--checkpoint", checkpoint, "HF-layout checkpoint directory")->required();
  app.add_option("--task", task, "und, t2i or edit")->required();
  app.add_option("--image", image_path, "input image (und, edit)");
  app.add_option("--prompt", prompt, "the prompt text (encoded by the checkpoint's tokenizer)");
  app.add_option("--tokenizer", tokenizer_dir, "tokenizer directory (default: the checkpoint's)");
  app.add_option("--adapter", adapter,
                 "a LoRA adapter in PEFT's layout (adapter_config.json + "
                 "adapter_model.safetensors) merged into the checkpoint's weights");
  app.add_option("--prompt-ids", prompt_ids, "prompt token ids, space or comma separated");
  app.add_option("--prompt-ids-file", prompt_ids_file, "file holding the prompt token ids");
  app.add_option("--out", out, "output PNG (t2i, edit) or text file of ids (und)");
  app.add_option("--vae", vae_path, "ae.safetensors (default: CHECKPOINT/ae.safetensors)");
  app.add_option("--seed", seed, "seed of every random draw");
  app.add_option("--steps", steps, "number of timesteps (50: 49 Euler steps)");
  app.add_option("--shift", shift, "timestep shift");
  app.add_option("--cfg-text", cfg_text, "text CFG scale (default 4.0)");
  app.add_option("--cfg-img", cfg_img, "image CFG scale (default: t2i 1.0, edit 2.0)");
  app.add_option("--cfg-interval", interval, "CFG interval LO HI (default: t2i 0.4 1, edit 0 1)")
      ->expected(2);
  app.add_option("--renorm", renorm,
                 "CFG renorm: global, channel or text_channel (default: t2i global, edit "
                 "text_channel)");
  app.add_option("--renorm-min", renorm_min, "CFG renorm minimum");
  app.add_option("--height", height, "t2i output height (multiple of 16)");
  app.add_option("--width", width, "t2i output width (multiple of 16)");
  app.add_option("--max-length", max_length, "und: most ids to decode, counting the start token");
  app.add_flag("--sample", sample, "und: sample instead of greedy decoding");
  app.add_option("--temperature", temperature, "und: sampling temperature");
  app.add_option("--special-tokens", special,
                 "ids of <|im_start|>,<|im_end|>,<|vision_start|>,<|vision_end|> "
                 "(default: Qwen2's 151644,151645,151652,151653)");
  app.add_option("--stage", stage, "1 or 2 (default: config.json's)");
  app.add_option("--device", device, "cpu or cuda[:i]");
  app.add_option("--dtype", dtype, "fp32 or bf16");
  app.add_option("--threads", threads, "intra-op threads (default: torch's)");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-infer", [&] {
    bagel::KeepFreedHostMemoryInProcess();
    if (threads > 0) at::set_num_threads(threads);
    TORCH_CHECK(task == "und" || task == "t2i" || task == "edit",
                "--task must be und, t2i or edit, got '", task, "'");
    const bool understand = task == "und";
    TORCH_CHECK(understand || !out.empty(), "--out: the ", task, " task writes a PNG, name it");
    TORCH_CHECK(task == "t2i" || !image_path.empty(), "--image: the ", task,
                " task needs an input image");
    TORCH_CHECK(!prompt.empty() + !prompt_ids.empty() + !prompt_ids_file.empty() == 1,
                "give exactly one of --prompt, --prompt-ids, --prompt-ids-file");
    std::vector<int64_t> ids;
    if (prompt.empty()) {
      std::string ids_text = prompt_ids;
      if (!prompt_ids_file.empty()) {
        std::ifstream in(prompt_ids_file);
        TORCH_CHECK(in.good(), "--prompt-ids-file: cannot read ", prompt_ids_file);
        ids_text.assign(std::istreambuf_iterator<char>(in), {});
      }
      ids = ParseIds(ids_text, "--prompt-ids");
      TORCH_CHECK(!ids.empty(), "--prompt-ids: the prompt is empty");
    }

    bagel::InferenceModelOptions load;
    load.device = device;
    load.dtype = bagel::ParseDtype(dtype);
    if (!stage.empty()) load.stage = bagel::ParseStage(stage);
    load.vae_path = vae_path;
    if (!special.empty()) {
      const auto s = ParseIds(special, "--special-tokens");
      TORCH_CHECK(s.size() == 4, "--special-tokens needs 4 ids, got ", s.size());
      load.tokens = {s[0], s[1], s[2], s[3]};
    }
    // The prompt codec, when a text prompt needs it or a tokenizer can turn the answer into text.
    const std::string codec_dir = tokenizer_dir.empty() ? checkpoint : tokenizer_dir;
    std::optional<bagel::PromptCodec> codec;
    if (!prompt.empty() || bagel::PromptCodec::HasTokenizer(codec_dir)) {
      codec = bagel::PromptCodec::ForModel(bagel::LoadBagelConfig(checkpoint), codec_dir);
      if (special.empty()) load.tokens = codec->special_tokens();
      if (!prompt.empty()) {
        ids = codec->Encode(prompt);
        TORCH_CHECK(!ids.empty(), "--prompt: the prompt is empty");
      }
    }
    auto start = std::chrono::steady_clock::now();
    bagel::InferenceModel model = bagel::LoadInferenceModel(checkpoint, load);
    std::cerr << "bagel-infer: loaded " << checkpoint << " (stage " << model.config().stage
              << (model.vae ? ", VAE " + model.vae->params().Describe() : std::string(", no VAE"))
              << ") in " << Seconds(start) << " s" << std::endl;
    if (!adapter.empty()) {
      const int merged = bagel::lora::MergePeftAdapterInto(adapter, *model.bagel);
      std::cerr << "bagel-infer: merged the LoRA adapter " << adapter << " into " << merged
                << " linear layers" << std::endl;
    }

    std::vector<bagel::InterleaveInput> inputs;
    if (!image_path.empty()) {
      at::Tensor rgb = bagel::ReadImageRgb(image_path);
      // As the official inferencer: the VAE resize first, then each transform on that image.
      at::Tensor resized = bagel::ResizeForRule(rgb, bagel::kVaeImageResize);
      at::Tensor vit = bagel::ApplyImageTransform(resized, bagel::kVitImageResize);
      at::Tensor vae =
          understand ? at::Tensor() : bagel::ApplyImageTransform(resized, bagel::kVaeImageResize);
      std::cerr << "bagel-infer: " << image_path << " " << rgb.size(1) << "x" << rgb.size(0)
                << " -> VAE " << resized.size(1) << "x" << resized.size(0) << ", ViT "
                << vit.size(2) << "x" << vit.size(1) << std::endl;
      inputs.push_back(bagel::InterleaveInput::Image(vae, vit));
    }
    inputs.push_back(bagel::InterleaveInput::Text(ids));

    bagel::InterleaveOptions o;
    o.understanding_output = understand;
    o.vae_generator = at::detail::createCPUGenerator(seed + 1);
    start = std::chrono::steady_clock::now();
    if (understand) {
      o.text.max_length = max_length;
      o.text.do_sample = sample;
      o.text.temperature = temperature;
      o.text.generator = at::detail::createCPUGenerator(seed + 2);
      o.text.progress = [&](int n, int total) {
        if (n % 16 == 0) std::cerr << "bagel-infer: token " << n << "/" << total << std::endl;
      };
    } else {
      const bool edit = task == "edit";
      bagel::ImageGenerationOptions& g = o.image;
      g.num_timesteps = steps;
      g.timestep_shift = shift;
      g.cfg_text_scale = cfg_text >= 0 ? cfg_text : 4.0;
      g.cfg_img_scale = cfg_img >= 0 ? cfg_img : (edit ? 2.0 : 1.0);
      g.cfg_interval_lo = interval.empty() ? (edit ? 0.0 : 0.4) : interval[0];
      g.cfg_interval_hi = interval.empty() ? 1.0 : interval[1];
      g.cfg_renorm_type =
          bagel::ParseCfgRenormType(renorm.empty() ? (edit ? "text_channel" : "global") : renorm);
      g.cfg_renorm_min = renorm_min;
      g.generator = at::detail::createCPUGenerator(seed);
      g.progress = [&](int step, int total) {
        std::cerr << "bagel-infer: step " << step << "/" << total << " (" << Seconds(start) << " s)"
                  << std::endl;
      };
      o.image_height = height;
      o.image_width = width;
      model.RequireVae("image generation");
    }
    bagel::InterleaveResult r = bagel::InterleaveInference(model, inputs, o);
    if (understand) {
      std::ostringstream line;
      for (size_t i = 0; i < r.text.ids.size(); ++i) line << (i ? " " : "") << r.text.ids[i];
      std::cout << line.str() << std::endl;
      if (!out.empty()) {
        std::ofstream f(out);
        TORCH_CHECK(f.good(), "--out: cannot write ", out);
        f << line.str() << "\n";
      }
      if (codec) std::cout << codec->Decode(r.text.ids) << std::endl;
      std::cerr << "bagel-infer: " << r.text.ids.size() << " ids in " << Seconds(start) << " s"
                << std::endl;
      return;
    }
    bagel::WritePng(out, bagel::ImageToUint8(r.image));
    std::cerr << "bagel-infer: wrote " << out << " (" << r.width << "x" << r.height << ") in "
              << Seconds(start) << " s" << std::endl;
  });
}
