#include "config/job_spec.h"

#include "config/yaml_duplicate_keys.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

namespace bagel::config {
namespace {

std::string Join(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}

std::string Describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  if (n.IsMap()) return "<mapping>";
  if (n.IsSequence()) return "<list>";
  std::string s = n.Scalar();
  if (s.size() > 100) s = s.substr(0, 100) + "...";
  return s;
}

// Reads typed fields from YAML nodes, recording every problem with its field path.
class Reader {
 public:
  explicit Reader(std::vector<FieldError>& errors) : errors_(errors) {}

  void Error(const std::string& path, const std::string& value, const std::string& expected) {
    errors_.push_back({path, value, expected});
  }

  // True when `n` is a mapping whose keys are all in `allowed`; unknown keys are reported.
  bool Map(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) {
    if (!n.IsMap()) {
      Error(path, Describe(n), "a mapping");
      return false;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "<non-scalar key>";
      if (!allowed.count(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        Error(Join(path, key), Describe(kv.second), "no such field (known: " + list + ")");
      }
    }
    return true;
  }

  static bool Present(const YAML::Node& parent, const char* key) {
    return parent[key].IsDefined() && !parent[key].IsNull();
  }

  void Int(const YAML::Node& parent, const char* key, const std::string& base, int64_t lo,
           int64_t hi, int64_t& out) {
    if (!Present(parent, key)) return;
    const YAML::Node n = parent[key];
    const std::string path = Join(base, key);
    int64_t v = 0;
    if (!ParseInt(n, v) || v < lo || v > hi) {
      Error(path, Describe(n),
            "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return;
    }
    out = v;
  }

  void Uint(const YAML::Node& parent, const char* key, const std::string& base, uint64_t& out) {
    int64_t v = static_cast<int64_t>(out);
    Int(parent, key, base, 0, INT64_MAX, v);
    out = static_cast<uint64_t>(v);
  }

  void OptionalPositive(const YAML::Node& parent, const char* key, const std::string& base,
                        std::optional<int64_t>& out) {
    if (!Present(parent, key)) return;
    int64_t v = 0;
    Int(parent, key, base, 1, INT64_MAX, v);
    if (v > 0) out = v;
  }

  void Number(const YAML::Node& parent, const char* key, const std::string& base, double& out,
              const std::function<bool(double)>& ok, const std::string& expected) {
    if (!Present(parent, key)) return;
    const YAML::Node n = parent[key];
    double v = 0;
    if (!ParseDouble(n, v) || !std::isfinite(v) || !ok(v)) {
      Error(Join(base, key), Describe(n), expected);
      return;
    }
    out = v;
  }

  void Bool(const YAML::Node& parent, const char* key, const std::string& base, bool& out) {
    if (!Present(parent, key)) return;
    const YAML::Node n = parent[key];
    const std::string s = n.IsScalar() ? n.Scalar() : "";
    if (s == "true" || s == "True" || s == "yes") {
      out = true;
    } else if (s == "false" || s == "False" || s == "no") {
      out = false;
    } else {
      Error(Join(base, key), Describe(n), "true or false");
    }
  }

  void OptionalBool(const YAML::Node& parent, const char* key, const std::string& base,
                    std::optional<bool>& out) {
    if (!Present(parent, key)) return;
    bool v = false;
    const size_t errors = errors_.size();
    Bool(parent, key, base, v);
    if (errors_.size() == errors) out = v;
  }

  void String(const YAML::Node& parent, const char* key, const std::string& base, std::string& out,
              bool non_empty = true) {
    if (!Present(parent, key)) return;
    const YAML::Node n = parent[key];
    const std::string path = Join(base, key);
    if (!n.IsScalar()) {
      Error(path, Describe(n), "a string");
    } else if (n.Scalar().size() > kMaxStringBytes) {
      Error(path, Describe(n), "at most " + std::to_string(kMaxStringBytes) + " bytes");
    } else if (non_empty && n.Scalar().empty()) {
      Error(path, "\"\"", "a non-empty string");
    } else {
      out = n.Scalar();
    }
  }

  void Enum(const YAML::Node& parent, const char* key, const std::string& base, std::string& out,
            const std::vector<std::string>& options) {
    if (!Present(parent, key)) return;
    std::string v;
    String(parent, key, base, v);
    if (v.empty()) return;
    for (const auto& o : options) {
      if (v == o) {
        out = v;
        return;
      }
    }
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : " | ") + o;
    Error(Join(base, key), v, "one of " + list);
  }

  void StringList(const YAML::Node& parent, const char* key, const std::string& base,
                  std::vector<std::string>& out) {
    if (!Present(parent, key)) return;
    const YAML::Node n = parent[key];
    const std::string path = Join(base, key);
    if (!n.IsSequence()) {
      Error(path, Describe(n), "a list of strings");
      return;
    }
    if (n.size() > kMaxListEntries) {
      Error(path, "<" + std::to_string(n.size()) + " entries>",
            "at most " + std::to_string(kMaxListEntries) + " entries");
      return;
    }
    out.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (!n[i].IsScalar() || n[i].Scalar().empty() || n[i].Scalar().size() > kMaxStringBytes) {
        Error(item, Describe(n[i]), "a non-empty string of at most 4096 bytes");
      } else {
        out.push_back(n[i].Scalar());
      }
    }
  }

 private:
  static bool ParseInt(const YAML::Node& n, int64_t& v) {
    if (!n.IsScalar()) return false;
    const std::string& s = n.Scalar();
    const char* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, v);
    return ec == std::errc() && ptr == end;
  }
  static bool ParseDouble(const YAML::Node& n, double& v) {
    if (!n.IsScalar() || n.Scalar().empty()) return false;
    const std::string& s = n.Scalar();
    char* end = nullptr;
    errno = 0;
    v = std::strtod(s.c_str(), &end);
    return errno == 0 && end == s.c_str() + s.size();
  }

  std::vector<FieldError>& errors_;
};

const std::vector<std::string> kGroupTypes = {"vlm_sft", "t2i", "edit", "text", "demo"};

void ReadTransform(Reader& r, const YAML::Node& parent, const char* key, const std::string& base,
                   TransformSpec& t) {
  if (!Reader::Present(parent, key)) return;
  const std::string path = Join(base, key);
  const YAML::Node n = parent[key];
  if (!r.Map(n, path, {"max_size", "min_size", "stride", "max_pixels"})) return;
  r.Int(n, "max_size", path, 1, 16384, t.max_size);
  r.Int(n, "min_size", path, 1, 16384, t.min_size);
  r.Int(n, "stride", path, 1, 1024, t.stride);
  r.Int(n, "max_pixels", path, 1, int64_t{1} << 40, t.max_pixels);
  if (t.min_size > t.max_size)
    r.Error(Join(path, "min_size"), std::to_string(t.min_size),
            "at most max_size (" + std::to_string(t.max_size) + ")");
}

DataGroupSpec ReadGroup(Reader& r, const YAML::Node& n, const std::string& path) {
  DataGroupSpec g;
  if (!r.Map(n, path,
             {"name", "type", "paths", "image_root", "parquet_info", "weight", "mandatory",
              "num_used_data", "shuffle_seed", "vit_transform", "vae_transform"})) {
    return g;
  }
  if (!Reader::Present(n, "name")) r.Error(Join(path, "name"), "null", "a group name (required)");
  r.String(n, "name", path, g.name);
  if (!Reader::Present(n, "type"))
    r.Error(Join(path, "type"), "null", "one of vlm_sft | t2i | edit | text | demo (required)");
  r.Enum(n, "type", path, g.type, kGroupTypes);
  r.StringList(n, "paths", path, g.paths);
  if (g.type != "demo" && !g.type.empty() && g.paths.empty()) {
    r.Error(Join(path, "paths"), Describe(n["paths"]), "at least one file or directory");
  }
  r.String(n, "image_root", path, g.image_root);
  r.String(n, "parquet_info", path, g.parquet_info);
  if (g.type == "edit" && g.parquet_info.empty()) {
    r.Error(Join(path, "parquet_info"), "null", "the parquet info JSON an edit dataset needs");
  }
  r.Number(
      n, "weight", path, g.weight, [](double v) { return v > 0; }, "a number > 0");
  r.Bool(n, "mandatory", path, g.mandatory);
  r.OptionalPositive(n, "num_used_data", path, g.num_used_data);
  r.Uint(n, "shuffle_seed", path, g.shuffle_seed);
  ReadTransform(r, n, "vit_transform", path, g.vit_transform);
  ReadTransform(r, n, "vae_transform", path, g.vae_transform);
  return g;
}

void ReadModel(Reader& r, const YAML::Node& n, ModelSpec& m) {
  const std::string path = "model";
  if (!r.Map(n, path,
             {"stage", "init_from", "vae", "freeze_llm", "freeze_vit", "freeze_und",
              "grouped_routing", "max_latent_size"}))
    return;
  if (!Reader::Present(n, "stage")) {
    r.Error("model.stage", "null", "1 | 2 | stage1 | stage2 (required)");
  } else {
    const std::string s = n["stage"].IsScalar() ? n["stage"].Scalar() : "";
    if (s == "1" || s == "stage1") {
      m.stage = 1;
    } else if (s == "2" || s == "stage2") {
      m.stage = 2;
    } else {
      r.Error("model.stage", Describe(n["stage"]), "1 | 2 | stage1 | stage2");
    }
  }
  if (!Reader::Present(n, "init_from")) {
    r.Error("model.init_from", "null", "{path: DIR} | {job: ID} | {preset: NAME} (required)");
  } else {
    const YAML::Node i = n["init_from"];
    if (r.Map(i, "model.init_from", {"path", "job", "preset", "seed"})) {
      const int kinds =
          Reader::Present(i, "path") + Reader::Present(i, "job") + Reader::Present(i, "preset");
      if (kinds != 1) {
        r.Error("model.init_from", Describe(i), "exactly one of path, job, preset");
      } else if (Reader::Present(i, "path")) {
        m.init_from.kind = InitFrom::Kind::kPath;
        r.String(i, "path", "model.init_from", m.init_from.path);
      } else if (Reader::Present(i, "job")) {
        m.init_from.kind = InitFrom::Kind::kJob;
        r.String(i, "job", "model.init_from", m.init_from.job);
      } else {
        m.init_from.kind = InitFrom::Kind::kPreset;
        r.Enum(i, "preset", "model.init_from", m.init_from.preset,
               {"tiny", "small", "medium", "bagel-7b"});
      }
      if (Reader::Present(i, "seed") && m.init_from.kind != InitFrom::Kind::kPreset) {
        r.Error("model.init_from.seed", Describe(i["seed"]), "a seed only with preset");
      }
      r.Uint(i, "seed", "model.init_from", m.init_from.seed);
    }
  }
  r.String(n, "vae", path, m.vae);
  r.Bool(n, "freeze_llm", path, m.freeze_llm);
  r.Bool(n, "freeze_vit", path, m.freeze_vit);
  r.Bool(n, "freeze_und", path, m.freeze_und);
  r.Bool(n, "grouped_routing", path, m.grouped_routing);
  r.OptionalPositive(n, "max_latent_size", path, m.max_latent_size);
}

void ReadData(Reader& r, const YAML::Node& n, DataSpec& d) {
  const std::string path = "data";
  if (!r.Map(n, path,
             {"groups", "tokenizer", "expected_num_tokens", "max_num_tokens",
              "max_num_tokens_per_sample", "prefer_buffer_before", "max_buffer_size", "cfg_dropout",
              "loader_threads"})) {
    return;
  }
  if (!Reader::Present(n, "groups") || !n["groups"].IsSequence() || n["groups"].size() == 0) {
    r.Error("data.groups", Describe(n["groups"]), "a non-empty list of dataset groups (required)");
  } else if (n["groups"].size() > kMaxListEntries) {
    r.Error("data.groups", "<list>", "at most 1024 groups");
  } else {
    std::set<std::string> names;
    for (size_t i = 0; i < n["groups"].size(); ++i) {
      const std::string gp = "data.groups[" + std::to_string(i) + "]";
      DataGroupSpec g = ReadGroup(r, n["groups"][i], gp);
      if (!g.name.empty() && !names.insert(g.name).second) {
        r.Error(gp + ".name", g.name, "a name no other group has");
      }
      d.groups.push_back(std::move(g));
    }
  }
  r.String(n, "tokenizer", path, d.tokenizer);
  r.Int(n, "expected_num_tokens", path, 1, int64_t{1} << 24, d.expected_num_tokens);
  r.Int(n, "max_num_tokens", path, 1, int64_t{1} << 24, d.max_num_tokens);
  r.Int(n, "max_num_tokens_per_sample", path, 1, int64_t{1} << 24, d.max_num_tokens_per_sample);
  r.Int(n, "prefer_buffer_before", path, 0, int64_t{1} << 24, d.prefer_buffer_before);
  r.Int(n, "max_buffer_size", path, 0, 100000, d.max_buffer_size);
  r.Int(n, "loader_threads", path, 0, 64, d.loader_threads);
  if (Reader::Present(n, "cfg_dropout")) {
    const YAML::Node c = n["cfg_dropout"];
    if (r.Map(c, "data.cfg_dropout", {"text", "vit", "vae"})) {
      auto prob = [](double v) { return v >= 0 && v <= 1; };
      r.Number(c, "text", "data.cfg_dropout", d.cfg_dropout.text, prob, "a probability in [0, 1]");
      r.Number(c, "vit", "data.cfg_dropout", d.cfg_dropout.vit, prob, "a probability in [0, 1]");
      r.Number(c, "vae", "data.cfg_dropout", d.cfg_dropout.vae, prob, "a probability in [0, 1]");
    }
  }
  if (d.expected_num_tokens > d.max_num_tokens) {
    r.Error("data.expected_num_tokens", std::to_string(d.expected_num_tokens),
            "at most data.max_num_tokens (" + std::to_string(d.max_num_tokens) + ")");
  }
  if (d.max_num_tokens_per_sample > d.max_num_tokens) {
    r.Error("data.max_num_tokens_per_sample", std::to_string(d.max_num_tokens_per_sample),
            "at most data.max_num_tokens (" + std::to_string(d.max_num_tokens) + ")");
  }
}

void ReadTrain(Reader& r, const YAML::Node& n, TrainSpec& t) {
  const std::string p = "train";
  if (!r.Map(n, p,
             {"steps",
              "lr",
              "warmup_steps",
              "schedule",
              "min_lr",
              "beta1",
              "beta2",
              "eps",
              "weight_decay",
              "max_grad_norm",
              "ema_decay",
              "ce_weight",
              "mse_weight",
              "ce_loss_reweighting",
              "timestep_shift",
              "grad_accum",
              "seed",
              "activation_checkpointing",
              "precision",
              "log_every",
              "optimizer_offload"})) {
    return;
  }
  if (!Reader::Present(n, "steps"))
    r.Error("train.steps", "null", "an integer in [1, 10000000] (required)");
  r.Int(n, "steps", p, 1, 10000000, t.steps);
  auto positive = [](double v) { return v > 0; };
  auto non_negative = [](double v) { return v >= 0; };
  auto beta = [](double v) { return v >= 0 && v < 1; };
  r.Number(n, "lr", p, t.lr, positive, "a number > 0");
  r.Int(n, "warmup_steps", p, 0, 10000000, t.warmup_steps);
  r.Enum(n, "schedule", p, t.schedule, {"constant", "cosine"});
  r.Number(n, "min_lr", p, t.min_lr, non_negative, "a number >= 0");
  r.Number(n, "beta1", p, t.beta1, beta, "a number in [0, 1)");
  r.Number(n, "beta2", p, t.beta2, beta, "a number in [0, 1)");
  r.Number(n, "eps", p, t.eps, positive, "a number > 0");
  r.Number(n, "weight_decay", p, t.weight_decay, non_negative, "a number >= 0");
  r.Number(n, "max_grad_norm", p, t.max_grad_norm, non_negative,
           "a number >= 0 (0 disables clipping)");
  r.Number(
      n, "ema_decay", p, t.ema_decay, [](double v) { return v >= 0 && v <= 1; },
      "a number in [0, 1] (0 disables EMA)");
  r.Number(n, "ce_weight", p, t.ce_weight, non_negative, "a number >= 0");
  r.Number(n, "mse_weight", p, t.mse_weight, non_negative, "a number >= 0");
  r.Bool(n, "ce_loss_reweighting", p, t.ce_loss_reweighting);
  r.Number(n, "timestep_shift", p, t.timestep_shift, positive, "a number > 0");
  r.Int(n, "grad_accum", p, 1, 1024, t.grad_accum);
  r.Uint(n, "seed", p, t.seed);
  r.OptionalBool(n, "activation_checkpointing", p, t.activation_checkpointing);
  r.Bool(n, "optimizer_offload", p, t.optimizer_offload);
  r.Enum(n, "precision", p, t.precision, {"bf16", "fp32"});
  r.Int(n, "log_every", p, 1, 1000000, t.log_every);
}

void ReadLora(Reader& r, const YAML::Node& n, LoraSpec& l) {
  const std::string p = "lora";
  l.enabled = true;
  if (!r.Map(n, p, {"rank", "alpha", "dropout", "targets"})) return;
  r.Int(n, "rank", p, 1, 4096, l.rank);
  r.Number(
      n, "alpha", p, l.alpha, [](double v) { return v > 0; }, "a number > 0");
  r.Number(
      n, "dropout", p, l.dropout, [](double v) { return v >= 0 && v < 1; }, "a number in [0, 1)");
  r.StringList(n, "targets", p, l.targets);
  if (Reader::Present(n, "targets") && n["targets"].IsSequence() && n["targets"].size() == 0)
    r.Error("lora.targets", "[]", "at least one regex (or no targets key for the default)");
  for (size_t i = 0; i < l.targets.size(); ++i) {
    try {
      std::regex check(l.targets[i]);
    } catch (const std::regex_error& e) {
      r.Error("lora.targets[" + std::to_string(i) + "]", l.targets[i],
              std::string("a valid regular expression (") + e.what() + ")");
    }
  }
}

void ReadParallel(Reader& r, const YAML::Node& n, ParallelSpec& s) {
  const std::string p = "parallel";
  if (!r.Map(
          n, p,
          {"workers", "gpus_per_worker", "sharding", "shard_group_size", "collective_timeout_s"}))
    return;
  r.Int(n, "workers", p, 1, 1024, s.workers);
  r.Int(n, "gpus_per_worker", p, 0, 16, s.gpus_per_worker);
  r.Enum(n, "sharding", p, s.sharding, {"full", "hybrid"});
  r.Int(n, "shard_group_size", p, 1, 16384, s.shard_group_size);
  r.Int(n, "collective_timeout_s", p, 10, 86400, s.collective_timeout_s);
}

std::string YamlOf(const std::function<void(YAML::Emitter&)>& body) {
  YAML::Emitter out;
  body(out);
  return out.c_str();
}

}  // namespace

std::string JobSpecParse::ErrorText() const {
  std::ostringstream out;
  for (const auto& e : errors) {
    out << (e.path.empty() ? "<spec>" : e.path) << ": got " << e.value << ", expected "
        << e.expected << "\n";
  }
  return out.str();
}

// Rules bagel-train would otherwise meet only at start, after the job was queued and scheduled,
// that depend on nothing but the spec: checked here so that the coordinator refuses the spec at
// submit (INVALID_ARGUMENT) and the trainer exits with the invalid-spec status, never restarted.
static void CheckSpecOnlyTrainerRules(Reader& r, const YAML::Node& root, const JobSpec& s) {
  const auto& groups = s.data.groups;
  const bool any_dataset = std::any_of(groups.begin(), groups.end(),
                                       [](const DataGroupSpec& g) { return g.type != "demo"; });
  if (any_dataset) {
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].type == "demo") {
        r.Error("data.groups[" + std::to_string(g) + "].type", "demo",
                "a dataset type: generated data (demo) cannot be mixed with datasets");
      }
    }
  }
  const bool eval_dataset = s.eval.dataset && s.eval.dataset->type != "demo";
  if ((any_dataset || eval_dataset) && s.data.tokenizer.empty() &&
      s.model.init_from.kind == InitFrom::Kind::kPreset && Reader::Present(root, "model")) {
    r.Error("data.tokenizer", "null",
            "a tokenizer directory (vocab.json + merges.txt or tokenizer.json): datasets need one "
            "and a preset model has none");
  }
  if (s.model.stage == 1) {
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].type == "t2i" || groups[g].type == "edit") {
        r.Error("data.groups[" + std::to_string(g) + "].type", groups[g].type,
                "vlm_sft, text or demo: " + groups[g].type +
                    " data trains image generation, which needs model.stage 2");
      }
    }
    if (s.eval.dataset && (s.eval.dataset->type == "t2i" || s.eval.dataset->type == "edit")) {
      r.Error("eval.dataset.type", s.eval.dataset->type,
              "vlm_sft, text or demo: a Stage 1 model has no generation loss to evaluate");
    }
  }
  if (s.eval.enabled && !s.eval.prompts.empty() && s.model.stage != 2 &&
      Reader::Present(root, "model")) {
    r.Error("eval.prompts", "<" + std::to_string(s.eval.prompts.size()) + " prompts>",
            "none unless model.stage is 2 (sampling images needs the generation expert)");
  }
}

JobSpecParse ParseJobSpec(const std::string& text) {
  JobSpecParse result;
  Reader r(result.errors);
  if (text.size() > kMaxSpecBytes) {
    r.Error("", "<" + std::to_string(text.size()) + " bytes>", "a spec of at most 1 MiB");
    return result;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    r.Error("", "<unparsable>", std::string("valid YAML (") + e.what() + ")");
    return result;
  }
  for (const DuplicateKey& d : FindDuplicateKeys(root)) {
    r.Error(d.path,
            "the key written twice (lines " + std::to_string(d.first_line) + " and " +
                std::to_string(d.second_line) + ")",
            "each key once");
  }
  JobSpec& s = result.spec;
  if (!r.Map(root, "",
             {"name", "model", "data", "train", "parallel", "checkpoint", "scheduling", "eval",
              "lora"})) {
    return result;
  }
  if (Reader::Present(root, "name")) {
    r.String(root, "name", "", s.name);
    const bool valid = !s.name.empty() && s.name.size() <= 128 &&
                       s.name.find_first_not_of(
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                           std::string::npos;
    if (!valid) r.Error("name", s.name, "1-128 characters of [A-Za-z0-9._-]");
  }
  for (const char* required : {"model", "data", "train"}) {
    if (!Reader::Present(root, required)) r.Error(required, "null", "a mapping (required section)");
  }
  if (Reader::Present(root, "model")) ReadModel(r, root["model"], s.model);
  if (Reader::Present(root, "data")) ReadData(r, root["data"], s.data);
  if (Reader::Present(root, "train")) ReadTrain(r, root["train"], s.train);
  if (Reader::Present(root, "parallel")) ReadParallel(r, root["parallel"], s.parallel);
  if (Reader::Present(root, "lora")) ReadLora(r, root["lora"], s.lora);
  if (Reader::Present(root, "checkpoint")) {
    const YAML::Node c = root["checkpoint"];
    if (r.Map(c, "checkpoint",
              {"every_steps", "keep_last", "export_hf", "async", "export_dtype", "export_model",
               "export_shard_gib"})) {
      r.Int(c, "every_steps", "checkpoint", 1, 10000000, s.checkpoint.every_steps);
      r.Int(c, "keep_last", "checkpoint", 1, 1000, s.checkpoint.keep_last);
      r.Bool(c, "export_hf", "checkpoint", s.checkpoint.export_hf);
      r.OptionalBool(c, "async", "checkpoint", s.checkpoint.async);
      r.Enum(c, "export_dtype", "checkpoint", s.checkpoint.export_dtype, {"bf16", "fp32"});
      r.Bool(c, "export_model", "checkpoint", s.checkpoint.export_model);
      r.Number(
          c, "export_shard_gib", "checkpoint", s.checkpoint.export_shard_gib,
          [](double v) { return v >= 0 && v <= 1024; }, "a size in GiB in [0, 1024] (0: one file)");
    }
  }
  if (Reader::Present(root, "scheduling")) {
    const YAML::Node c = root["scheduling"];
    if (r.Map(c, "scheduling", {"priority", "max_restarts"})) {
      r.Int(c, "priority", "scheduling", -100, 100, s.scheduling.priority);
      r.Int(c, "max_restarts", "scheduling", 0, 100, s.scheduling.max_restarts);
    }
  }
  if (Reader::Present(root, "eval")) {
    const YAML::Node e = root["eval"];
    s.eval.enabled = true;
    if (r.Map(
            e, "eval",
            {"every_steps", "dataset", "max_batches", "prompts", "image_size", "num_timesteps"})) {
      r.Int(e, "every_steps", "eval", 1, 10000000, s.eval.every_steps);
      if (Reader::Present(e, "dataset"))
        s.eval.dataset = ReadGroup(r, e["dataset"], "eval.dataset");
      r.Int(e, "max_batches", "eval", 1, 100000, s.eval.max_batches);
      r.StringList(e, "prompts", "eval", s.eval.prompts);
      r.Int(e, "image_size", "eval", 16, 2048, s.eval.image_size);
      r.Int(e, "num_timesteps", "eval", 2, 1000, s.eval.num_timesteps);
      if (s.eval.image_size % 16 != 0)
        r.Error("eval.image_size", std::to_string(s.eval.image_size), "a multiple of 16");
    }
  }
  // Cross-field rules.
  if (s.model.stage == 2 && s.model.vae.empty() && Reader::Present(root, "model")) {
    r.Error("model.vae", "null", "the ae.safetensors path (required for stage 2)");
  }
  if (s.model.freeze_und && s.model.stage != 2) {
    r.Error("model.freeze_und", "true", "false unless model.stage is 2");
  }
  CheckSpecOnlyTrainerRules(r, root, s);
  if (s.parallel.sharding == "hybrid" &&
      s.parallel.world_size() % s.parallel.shard_group_size != 0) {
    r.Error("parallel.shard_group_size", std::to_string(s.parallel.shard_group_size),
            "a divisor of the world size " + std::to_string(s.parallel.world_size()));
  }
  return result;
}

std::string JobSpecToYaml(const JobSpec& s) {
  return YamlOf([&](YAML::Emitter& o) {
    auto transform = [&](const char* key, const TransformSpec& t) {
      o << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
        << "max_size" << YAML::Value << t.max_size << YAML::Key << "min_size" << YAML::Value
        << t.min_size << YAML::Key << "stride" << YAML::Value << t.stride << YAML::Key
        << "max_pixels" << YAML::Value << t.max_pixels << YAML::EndMap;
    };
    auto group = [&](const DataGroupSpec& g) {
      o << YAML::BeginMap << YAML::Key << "name" << YAML::Value << g.name << YAML::Key << "type"
        << YAML::Value << g.type;
      if (!g.paths.empty()) o << YAML::Key << "paths" << YAML::Value << YAML::Flow << g.paths;
      if (!g.image_root.empty()) o << YAML::Key << "image_root" << YAML::Value << g.image_root;
      if (!g.parquet_info.empty())
        o << YAML::Key << "parquet_info" << YAML::Value << g.parquet_info;
      o << YAML::Key << "weight" << YAML::Value << g.weight << YAML::Key << "mandatory"
        << YAML::Value << g.mandatory;
      if (g.num_used_data) o << YAML::Key << "num_used_data" << YAML::Value << *g.num_used_data;
      o << YAML::Key << "shuffle_seed" << YAML::Value << g.shuffle_seed;
      transform("vit_transform", g.vit_transform);
      transform("vae_transform", g.vae_transform);
      o << YAML::EndMap;
    };
    o.SetDoublePrecision(17);
    o << YAML::BeginMap;
    if (!s.name.empty()) o << YAML::Key << "name" << YAML::Value << s.name;
    o << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
    o << YAML::Key << "stage" << YAML::Value << s.model.stage;
    o << YAML::Key << "init_from" << YAML::Value << YAML::Flow << YAML::BeginMap;
    switch (s.model.init_from.kind) {
      case InitFrom::Kind::kPath:
        o << YAML::Key << "path" << YAML::Value << s.model.init_from.path;
        break;
      case InitFrom::Kind::kJob:
        o << YAML::Key << "job" << YAML::Value << s.model.init_from.job;
        break;
      case InitFrom::Kind::kPreset:
        o << YAML::Key << "preset" << YAML::Value << s.model.init_from.preset << YAML::Key << "seed"
          << YAML::Value << s.model.init_from.seed;
        break;
    }
    o << YAML::EndMap;
    if (!s.model.vae.empty()) o << YAML::Key << "vae" << YAML::Value << s.model.vae;
    o << YAML::Key << "freeze_llm" << YAML::Value << s.model.freeze_llm << YAML::Key << "freeze_vit"
      << YAML::Value << s.model.freeze_vit << YAML::Key << "freeze_und" << YAML::Value
      << s.model.freeze_und << YAML::Key << "grouped_routing" << YAML::Value
      << s.model.grouped_routing;
    if (s.model.max_latent_size)
      o << YAML::Key << "max_latent_size" << YAML::Value << *s.model.max_latent_size;
    o << YAML::EndMap;
    const DataSpec& d = s.data;
    o << YAML::Key << "data" << YAML::Value << YAML::BeginMap << YAML::Key << "groups"
      << YAML::Value << YAML::BeginSeq;
    for (const auto& g : d.groups) group(g);
    o << YAML::EndSeq;
    if (!d.tokenizer.empty()) o << YAML::Key << "tokenizer" << YAML::Value << d.tokenizer;
    o << YAML::Key << "expected_num_tokens" << YAML::Value << d.expected_num_tokens << YAML::Key
      << "max_num_tokens" << YAML::Value << d.max_num_tokens << YAML::Key
      << "max_num_tokens_per_sample" << YAML::Value << d.max_num_tokens_per_sample << YAML::Key
      << "prefer_buffer_before" << YAML::Value << d.prefer_buffer_before << YAML::Key
      << "max_buffer_size" << YAML::Value << d.max_buffer_size << YAML::Key << "cfg_dropout"
      << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "text" << YAML::Value
      << d.cfg_dropout.text << YAML::Key << "vit" << YAML::Value << d.cfg_dropout.vit << YAML::Key
      << "vae" << YAML::Value << d.cfg_dropout.vae << YAML::EndMap << YAML::Key << "loader_threads"
      << YAML::Value << d.loader_threads << YAML::EndMap;
    const TrainSpec& t = s.train;
    o << YAML::Key << "train" << YAML::Value << YAML::BeginMap;
    o << YAML::Key << "steps" << YAML::Value << t.steps << YAML::Key << "lr" << YAML::Value << t.lr
      << YAML::Key << "warmup_steps" << YAML::Value << t.warmup_steps << YAML::Key << "schedule"
      << YAML::Value << t.schedule << YAML::Key << "min_lr" << YAML::Value << t.min_lr << YAML::Key
      << "beta1" << YAML::Value << t.beta1 << YAML::Key << "beta2" << YAML::Value << t.beta2
      << YAML::Key << "eps" << YAML::Value << t.eps << YAML::Key << "weight_decay" << YAML::Value
      << t.weight_decay << YAML::Key << "max_grad_norm" << YAML::Value << t.max_grad_norm
      << YAML::Key << "ema_decay" << YAML::Value << t.ema_decay << YAML::Key << "ce_weight"
      << YAML::Value << t.ce_weight << YAML::Key << "mse_weight" << YAML::Value << t.mse_weight
      << YAML::Key << "ce_loss_reweighting" << YAML::Value << t.ce_loss_reweighting << YAML::Key
      << "timestep_shift" << YAML::Value << t.timestep_shift << YAML::Key << "grad_accum"
      << YAML::Value << t.grad_accum << YAML::Key << "seed" << YAML::Value << t.seed;
    if (t.activation_checkpointing) {
      o << YAML::Key << "activation_checkpointing" << YAML::Value << *t.activation_checkpointing;
    }
    o << YAML::Key << "precision" << YAML::Value << t.precision << YAML::Key << "log_every"
      << YAML::Value << t.log_every << YAML::Key << "optimizer_offload" << YAML::Value
      << t.optimizer_offload << YAML::EndMap;
    const ParallelSpec& p = s.parallel;
    o << YAML::Key << "parallel" << YAML::Value << YAML::BeginMap << YAML::Key << "workers"
      << YAML::Value << p.workers << YAML::Key << "gpus_per_worker" << YAML::Value
      << p.gpus_per_worker << YAML::Key << "sharding" << YAML::Value << p.sharding << YAML::Key
      << "shard_group_size" << YAML::Value << p.shard_group_size << YAML::Key
      << "collective_timeout_s" << YAML::Value << p.collective_timeout_s << YAML::EndMap;
    o << YAML::Key << "checkpoint" << YAML::Value << YAML::BeginMap << YAML::Key << "every_steps"
      << YAML::Value << s.checkpoint.every_steps << YAML::Key << "keep_last" << YAML::Value
      << s.checkpoint.keep_last << YAML::Key << "export_hf" << YAML::Value
      << s.checkpoint.export_hf;
    if (s.checkpoint.async) o << YAML::Key << "async" << YAML::Value << *s.checkpoint.async;
    o << YAML::Key << "export_dtype" << YAML::Value << s.checkpoint.export_dtype << YAML::Key
      << "export_model" << YAML::Value << s.checkpoint.export_model << YAML::Key
      << "export_shard_gib" << YAML::Value << s.checkpoint.export_shard_gib << YAML::EndMap;
    o << YAML::Key << "scheduling" << YAML::Value << YAML::BeginMap << YAML::Key << "priority"
      << YAML::Value << s.scheduling.priority << YAML::Key << "max_restarts" << YAML::Value
      << s.scheduling.max_restarts << YAML::EndMap;
    if (s.eval.enabled) {
      o << YAML::Key << "eval" << YAML::Value << YAML::BeginMap << YAML::Key << "every_steps"
        << YAML::Value << s.eval.every_steps;
      if (s.eval.dataset) {
        o << YAML::Key << "dataset" << YAML::Value;
        group(*s.eval.dataset);
      }
      o << YAML::Key << "max_batches" << YAML::Value << s.eval.max_batches;
      if (!s.eval.prompts.empty()) o << YAML::Key << "prompts" << YAML::Value << s.eval.prompts;
      o << YAML::Key << "image_size" << YAML::Value << s.eval.image_size << YAML::Key
        << "num_timesteps" << YAML::Value << s.eval.num_timesteps << YAML::EndMap;
    }
    if (s.lora.enabled) {
      o << YAML::Key << "lora" << YAML::Value << YAML::BeginMap << YAML::Key << "rank"
        << YAML::Value << s.lora.rank << YAML::Key << "alpha" << YAML::Value << s.lora.alpha
        << YAML::Key << "dropout" << YAML::Value << s.lora.dropout;
      if (!s.lora.targets.empty()) o << YAML::Key << "targets" << YAML::Value << s.lora.targets;
      o << YAML::EndMap;
    }
    o << YAML::EndMap;
  });
}

JobSpecParse ReadJobSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    JobSpecParse r;
    r.errors.push_back({"", path, "a readable job spec file"});
    return r;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseJobSpec(buffer.str());
}

}  // namespace bagel::config
