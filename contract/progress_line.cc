#include "contract/progress_line.h"

#include <nlohmann/json.hpp>

namespace bagel::contract {
namespace {

using json = nlohmann::json;
using Kind = ProgressLine::Kind;

template <typename T>
void Get(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_same_v<T, std::string>) {
    if (it->is_string()) out = it->get<std::string>();
  } else if constexpr (std::is_same_v<T, std::optional<double>>) {
    if (it->is_number()) out = it->get<double>();
  } else {
    if (it->is_number()) out = it->get<T>();
  }
}

Kind KindOf(const std::string& event) {
  for (Kind k :
       {Kind::kStarted, Kind::kStep, Kind::kCheckpoint, Kind::kEval, Kind::kDone, Kind::kError}) {
    if (event == EventName(k)) return k;
  }
  return Kind::kOther;
}

}  // namespace

const char* EventName(Kind kind) {
  switch (kind) {
    case Kind::kStarted:
      return "started";
    case Kind::kStep:
      return "step";
    case Kind::kCheckpoint:
      return "checkpoint";
    case Kind::kEval:
      return "eval";
    case Kind::kDone:
      return "done";
    case Kind::kError:
      return "error";
    case Kind::kOther:
      break;
  }
  return "";
}

std::string FormatProgressLine(const ProgressLine& p) {
  json j = {{"event", p.kind == Kind::kOther ? p.event : std::string(EventName(p.kind))}};
  switch (p.kind) {
    case Kind::kStarted:
      j.update({{"rank", p.rank},
                {"world_size", p.world_size},
                {"step", p.step},
                {"total_steps", p.total_steps},
                {"attempt", p.attempt},
                {"device", p.device}});
      break;
    case Kind::kStep:
      j.update({{"step", p.step},
                {"total_steps", p.total_steps},
                {"ce", p.ce},
                {"mse", p.mse},
                {"lr", p.lr},
                {"grad_norm", p.grad_norm},
                {"tokens", p.tokens},
                {"tokens_per_s", p.tokens_per_s},
                {"step_time_s", p.step_time_s},
                {"mfu", p.mfu},
                {"mem_bytes", p.mem_bytes},
                {"host_mem_bytes", p.host_mem_bytes},
                {"ce_tokens", p.ce_tokens},
                {"mse_tokens", p.mse_tokens}});
      if (p.has_data_counts) {
        j.update({{"data_samples", p.data_samples},
                  {"data_skipped", p.data_skipped},
                  {"data_skipped_by_reason", p.data_skipped_by_reason}});
      }
      break;
    case Kind::kCheckpoint:
      j.update({{"step", p.step},
                {"path", p.path},
                {"bytes", p.bytes},
                {"seconds", p.seconds},
                {"blocking_s", p.blocking_s}});
      break;
    case Kind::kEval:
      j["step"] = p.step;
      if (p.val_ce) j["val_ce"] = *p.val_ce;
      if (p.val_mse) j["val_mse"] = *p.val_mse;
      if (!p.images.empty() || p.sample_seconds) j["images"] = p.images;
      if (p.sample_seconds) j["sample_seconds"] = *p.sample_seconds;
      break;
    case Kind::kDone:
      j.update({{"step", p.step}, {"final_checkpoint", p.final_checkpoint}});
      if (!p.hf_export.empty()) j["hf_export"] = p.hf_export;
      break;
    case Kind::kError:
      j.update({{"rank", p.rank}, {"message", p.message}});
      break;
    case Kind::kOther:
      break;
  }
  return j.dump();
}

std::optional<ProgressLine> ParseProgressLine(std::string_view text, std::string* why) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    if (why) *why = "not a JSON object";
    return std::nullopt;
  }
  const auto ev = j.find("event");
  if (ev == j.end() || !ev->is_string()) {
    if (why) *why = "no \"event\" field";
    return std::nullopt;
  }
  ProgressLine p;
  p.event = ev->get<std::string>();
  p.kind = KindOf(p.event);
  Get(j, "step", p.step);
  Get(j, "total_steps", p.total_steps);
  Get(j, "rank", p.rank);
  Get(j, "world_size", p.world_size);
  Get(j, "attempt", p.attempt);
  Get(j, "device", p.device);
  Get(j, "ce", p.ce);
  Get(j, "mse", p.mse);
  Get(j, "lr", p.lr);
  Get(j, "grad_norm", p.grad_norm);
  Get(j, "tokens", p.tokens);
  Get(j, "tokens_per_s", p.tokens_per_s);
  Get(j, "step_time_s", p.step_time_s);
  Get(j, "mfu", p.mfu);
  Get(j, "mem_bytes", p.mem_bytes);
  Get(j, "host_mem_bytes", p.host_mem_bytes);
  Get(j, "ce_tokens", p.ce_tokens);
  Get(j, "mse_tokens", p.mse_tokens);
  if (auto by = j.find("data_skipped_by_reason"); by != j.end() && by->is_object()) {
    p.has_data_counts = true;
    for (const auto& [reason, n] : by->items()) {
      if (n.is_number()) p.data_skipped_by_reason[reason] = n.get<int64_t>();
    }
  }
  if (j.contains("data_skipped") || j.contains("data_samples")) p.has_data_counts = true;
  Get(j, "data_samples", p.data_samples);
  Get(j, "data_skipped", p.data_skipped);
  Get(j, "path", p.path);
  Get(j, "bytes", p.bytes);
  Get(j, "seconds", p.seconds);
  Get(j, "blocking_s", p.blocking_s);
  Get(j, "val_ce", p.val_ce);
  Get(j, "val_mse", p.val_mse);
  if (auto images = j.find("images"); images != j.end() && images->is_array()) {
    for (const auto& image : *images) {
      if (image.is_string()) p.images.push_back(image.get<std::string>());
    }
  }
  Get(j, "sample_seconds", p.sample_seconds);
  Get(j, "final_checkpoint", p.final_checkpoint);
  Get(j, "hf_export", p.hf_export);
  Get(j, "message", p.message);
  return p;
}

}  // namespace bagel::contract
