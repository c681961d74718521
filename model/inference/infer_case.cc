#include "model/inference/infer_case.h"

#include <c10/util/Exception.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/io/safetensors.h"

namespace bagel {
namespace {

const nlohmann::json& Field(const nlohmann::json& j, const char* name, const std::string& path) {
  TORCH_CHECK(j.contains(name), path, ": missing field '", name, "'");
  return j.at(name);
}

template <typename T>
T Get(const nlohmann::json& j, const char* name, const std::string& path) {
  const nlohmann::json& v = Field(j, name, path);
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path, ": field '", name, "' has the wrong type (", e.what(), ")");
  }
}

at::Tensor Need(const std::map<std::string, at::Tensor>& batch, const std::string& name,
                const std::string& path, const std::string& task) {
  auto it = batch.find(name);
  TORCH_CHECK(it != batch.end(), path, ": a ", task, " case needs tensor '", name, "'");
  return it->second;
}

}  // namespace

InferCaseSpec ReadInferCaseSpec(const std::string& path) {
  std::ifstream in(path);
  TORCH_CHECK(in.good(), "cannot read ", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, path, ": invalid JSON (", e.what(), ")");
  }
  InferCaseSpec s;
  s.task = Get<std::string>(j, "task", path);
  TORCH_CHECK(s.task == "t2i" || s.task == "edit" || s.task == "und", path, ": task '", s.task,
              "' is not one of t2i, edit, und");
  if (j.contains("special_tokens")) {
    const nlohmann::json& t = j["special_tokens"];
    const std::string where = path + " special_tokens";
    s.tokens.bos = Get<int64_t>(t, "bos", where);
    s.tokens.eos = Get<int64_t>(t, "eos", where);
    s.tokens.start_of_image = Get<int64_t>(t, "start_of_image", where);
    s.tokens.end_of_image = Get<int64_t>(t, "end_of_image", where);
  }
  if (s.task == "und") {
    s.max_length = Get<int>(j, "max_length", path);
    return s;
  }
  ImageGenerationOptions& o = s.image;
  o.num_timesteps = Get<int>(j, "num_timesteps", path);
  o.cfg_text_scale = Get<double>(j, "cfg_text_scale", path);
  o.cfg_img_scale = Get<double>(j, "cfg_img_scale", path);
  const auto interval = Get<std::vector<double>>(j, "cfg_interval", path);
  TORCH_CHECK(interval.size() == 2, path, ": cfg_interval must hold two numbers");
  o.cfg_interval_lo = interval[0];
  o.cfg_interval_hi = interval[1];
  o.timestep_shift = Get<double>(j, "timestep_shift", path);
  o.cfg_renorm_type = ParseCfgRenormType(Get<std::string>(j, "cfg_renorm_type", path));
  o.cfg_renorm_min = Get<double>(j, "cfg_renorm_min", path);
  if (s.task == "t2i") {
    const auto shape = Get<std::vector<int64_t>>(j, "image_shape", path);
    TORCH_CHECK(shape.size() == 2, path, ": image_shape must be [H, W]");
    s.image_height = shape[0];
    s.image_width = shape[1];
  }
  return s;
}

std::map<std::string, at::Tensor> RunInferCase(const std::string& checkpoint_dir,
                                               const std::string& batch_path,
                                               const std::string& case_json_path,
                                               const InferCaseOptions& options) {
  const InferCaseSpec spec = ReadInferCaseSpec(case_json_path);
  const auto batch = io::SafetensorsFile::Open(batch_path)->ReadAll();
  at::Tensor prompt = Need(batch, "prompt_ids", batch_path, spec.task);
  TORCH_CHECK(prompt.dim() == 1, batch_path, ": prompt_ids must be 1-D, got ", prompt.sizes());
  prompt = prompt.to(at::kLong).contiguous();
  std::vector<int64_t> ids(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt.numel());

  InferenceModelOptions load;
  load.device = options.device;
  load.dtype = options.dtype;
  load.stage = options.stage;
  load.tokens = spec.tokens;
  InferenceModel model = LoadInferenceModel(checkpoint_dir, load);

  InterleaveOptions o;
  std::vector<InterleaveInput> inputs;
  if (spec.task == "und") {
    o.understanding_output = true;
    o.text.max_length = spec.max_length;
    inputs.push_back(InterleaveInput::Image({}, Need(batch, "image_vit", batch_path, spec.task)));
  } else {
    o.image = spec.image;
    o.image.init_noise = Need(batch, "init_noise", batch_path, spec.task);
    o.image_height = spec.image_height;
    o.image_width = spec.image_width;
    if (spec.task == "edit") {
      InterleaveInput image =
          InterleaveInput::Image(Need(batch, "image_vae", batch_path, spec.task),
                                 Need(batch, "image_vit", batch_path, spec.task));
      image.vae_posterior_noise = Need(batch, "vae_posterior_noise", batch_path, spec.task);
      inputs.push_back(image);
    }
    model.RequireVae("this inference case");
  }
  inputs.push_back(InterleaveInput::Text(ids));
  InterleaveResult r = InterleaveInference(model, inputs, o);

  std::map<std::string, at::Tensor> out;
  if (spec.task == "und") {
    out["ids"] = at::tensor(r.text.ids, at::kLong);
    out["first_logits"] = r.text.first_logits.to(at::kCPU, at::kFloat);
  } else {
    out["latent"] = r.latent.to(at::kCPU, at::kFloat);
    out["image"] = r.image.to(at::kCPU, at::kFloat);
  }
  return out;
}

}  // namespace bagel
