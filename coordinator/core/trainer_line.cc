#include "coordinator/core/trainer_line.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace bagel::coord {
namespace {

template <typename T>
void Get(const nlohmann::json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_same_v<T, std::string>) {
    if (it->is_string()) out = it->get<std::string>();
  } else {
    if (it->is_number()) out = it->get<T>();
  }
}

}  // namespace

absl::StatusOr<TrainerLine> ParseTrainerLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  auto ev = j.find("event");
  if (ev == j.end() || !ev->is_string()) return absl::InvalidArgumentError("no \"event\" field");
  TrainerLine t;
  t.event = ev->get<std::string>();
  using K = TrainerLine::Kind;
  t.kind = t.event == "started"      ? K::kStarted
           : t.event == "step"       ? K::kStep
           : t.event == "checkpoint" ? K::kCheckpoint
           : t.event == "eval"       ? K::kEval
           : t.event == "done"       ? K::kDone
           : t.event == "error"      ? K::kError
                                     : K::kOther;
  Get(j, "step", t.step);
  Get(j, "total_steps", t.total_steps);
  Get(j, "rank", t.rank);
  Get(j, "world_size", t.world_size);
  Get(j, "ce", t.ce);
  Get(j, "mse", t.mse);
  Get(j, "lr", t.lr);
  Get(j, "grad_norm", t.grad_norm);
  Get(j, "tokens", t.tokens);
  Get(j, "tokens_per_s", t.tokens_per_s);
  Get(j, "step_time_s", t.step_time_s);
  Get(j, "mfu", t.mfu);
  Get(j, "mem_bytes", t.mem_bytes);
  Get(j, "val_ce", t.val_ce);
  Get(j, "val_mse", t.val_mse);
  Get(j, "path", t.path);
  Get(j, "bytes", t.bytes);
  Get(j, "seconds", t.seconds);
  Get(j, "final_checkpoint", t.final_checkpoint);
  Get(j, "hf_export", t.hf_export);
  Get(j, "message", t.message);
  return t;
}

}  // namespace bagel::coord
