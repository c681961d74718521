#include "worker/data/pack_samples_file.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/bagel/packed_batch_file.h"
#include "model/io/safetensors.h"

namespace bagel::data {
namespace {

using nlohmann::json;

const json& Field(const json& doc, const char* name, const std::string& where) {
  TORCH_CHECK(doc.is_object() && doc.contains(name), where, ": missing field '", name, "'");
  return doc[name];
}

bool Flag(const json& item, const char* name, const std::string& where) {
  if (!item.contains(name) || item[name].is_null()) return false;
  const json& v = item[name];
  TORCH_CHECK(v.is_number_integer() || v.is_boolean(), where, ": '", name, "' must be 0/1");
  return v.is_boolean() ? v.get<bool>() : v.get<int64_t>() != 0;
}

}  // namespace

PackSamplesFile ReadPackSamplesFile(const std::string& path) {
  std::ifstream in(path);
  TORCH_CHECK(in, path, ": cannot open");
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    TORCH_CHECK(false, path, ": not valid JSON: ", e.what());
  }
  PackSamplesFile out;
  const json& dc = Field(doc, "data_config", path);
  const std::string dcw = path + ": data_config";
  out.config.vae_image_downsample = Field(dc, "vae_image_downsample", dcw).get<int64_t>();
  out.config.max_latent_size = Field(dc, "max_latent_size", dcw).get<int64_t>();
  out.config.vit_patch_size = Field(dc, "vit_patch_size", dcw).get<int64_t>();
  out.config.max_num_patch_per_side = Field(dc, "max_num_patch_per_side", dcw).get<int64_t>();
  TORCH_CHECK(!dc.value("interpolate_pos", false), dcw, ": interpolate_pos is not supported");
  out.config.text_cond_dropout_prob = dc.value("text_cond_dropout_prob", 0.0);
  out.config.vit_cond_dropout_prob = dc.value("vit_cond_dropout_prob", 0.0);
  out.config.vae_cond_dropout_prob = dc.value("vae_cond_dropout_prob", 0.0);
  const json& st = Field(doc, "special_tokens", path);
  const std::string stw = path + ": special_tokens";
  out.tokens = {Field(st, "bos", stw).get<int64_t>(), Field(st, "eos", stw).get<int64_t>(),
                Field(st, "start_of_image", stw).get<int64_t>(),
                Field(st, "end_of_image", stw).get<int64_t>()};
  out.vae_timesteps = doc.value("vae_timesteps", std::vector<double>{});

  std::shared_ptr<io::SafetensorsFile> images;
  const auto images_path = std::filesystem::path(path).parent_path() / "images.safetensors";
  if (std::filesystem::exists(images_path))
    images = io::SafetensorsFile::Open(images_path.string());
  const json& samples = Field(doc, "samples", path);
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string where = path + ": samples[" + std::to_string(i) + "]";
    Sample s;
    for (const json& item : Field(samples[i], "sequence_plan", where)) {
      PlanItem p;
      const std::string type = Field(item, "type", where).get<std::string>();
      if (type == "text") {
        p.type = PlanItemType::kText;
      } else if (type == "vit_image") {
        p.type = PlanItemType::kVitImage;
      } else if (type == "vae_image") {
        p.type = PlanItemType::kVaeImage;
      } else {
        TORCH_CHECK(false, where, ": unknown item type '", type, "'");
      }
      p.enable_cfg = Flag(item, "enable_cfg", where);
      p.loss = Flag(item, "loss", where);
      p.special_token_loss = Flag(item, "special_token_loss", where);
      if (item.contains("special_token_label") && !item["special_token_label"].is_null()) {
        p.special_token_label = item["special_token_label"].get<int64_t>();
      }
      s.plan.push_back(p);
    }
    for (const json& ids : Field(samples[i], "text_ids_list", where)) {
      s.text_ids.push_back(ids.get<std::vector<int64_t>>());
    }
    const int64_t num_images = samples[i].value("num_images", 0);
    for (int64_t j = 0; j < num_images; ++j) {
      const std::string name = "sample." + std::to_string(i) + ".image." + std::to_string(j);
      TORCH_CHECK(images && images->Contains(name), images_path.string(), ": missing image '", name,
                  "'");
      s.images.push_back(images->Read(name, at::kFloat));
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

PackedSequence PackSamplesFileContents(const PackSamplesFile& file) {
  SequencePacker packer(file.config, file.tokens);
  size_t next_timestep = 0;
  PackRandomness random;
  random.uniform = [] { return 0.5; };
  random.normal = [&] {
    TORCH_CHECK(next_timestep < file.vae_timesteps.size(),
                "vae_timesteps has fewer entries than noised VAE images");
    return file.vae_timesteps[next_timestep++];
  };
  for (const Sample& s : file.samples) packer.Add(s, random);
  return packer.Finish();
}

std::map<std::string, at::Tensor> PackedLayoutTensors(const PackedSequence& packed) {
  auto out = PackedBatchToTensors(packed.batch);
  out.erase("padded_latent");
  out.erase("noise");
  out.erase("ce_loss_weights");
  for (auto it = out.begin(); it != out.end();) {
    it = it->first.rfind("nested_attention_masks.", 0) == 0 ? out.erase(it) : std::next(it);
  }
  if (packed.padded_images.defined()) {
    out["padded_images"] = packed.padded_images;
    std::vector<int64_t> flat;
    for (const auto& [h, w] : packed.batch.patchified_vae_latent_shapes) {
      flat.push_back(h);
      flat.push_back(w);
    }
    out["patchified_vae_latent_shapes"] =
        at::tensor(flat, at::kLong).reshape({static_cast<int64_t>(flat.size() / 2), 2});
    out["packed_latent_position_ids"] = packed.batch.packed_latent_position_ids;
    out["packed_vae_token_indexes"] = packed.batch.packed_vae_token_indexes;
    out["packed_timesteps"] = packed.batch.packed_timesteps;
    out["mse_loss_indexes"] = packed.batch.mse_loss_indexes;
  }
  return out;
}

}  // namespace bagel::data
