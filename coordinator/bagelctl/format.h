// What bagelctl prints for people: aligned tables, durations, sizes, progress bars with ETA.
// Pure functions (tested in format_test.cc); --json output uses protobuf's JSON mapping instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bagel/v1/common.pb.h"

namespace bagel::ctl {

// Columns padded to their widest cell, two spaces apart; no trailing spaces.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// 75 -> "1m15s", 3725 -> "1h02m", 0.4 -> "0s"; negative -> "-".
std::string HumanDuration(double seconds);
// 1536 -> "1.5 KiB".
std::string HumanBytes(int64_t bytes);
// Time since `unix_ms` as of `now_ms`, as HumanDuration, or "-" when unset.
std::string Age(int64_t unix_ms, int64_t now_ms);
// "[#######.............]" of `width` cells inside the brackets.
std::string ProgressBar(int64_t step, int64_t total, int width);
// Seconds left: from the step time when known, else from the elapsed time per step so far.
std::optional<double> EtaSeconds(const bagel::v1::Progress& p, double elapsed_s);
// One live line: bar, percent, step, losses, tokens/s, ETA.
std::string WatchLine(const bagel::v1::Job& job, double elapsed_s);
// The job's TensorBoard run, <checkpoint dir>/tensorboard (contract/checkpoint_layout.h), and
// how to open it: "DIR  (tensorboard --logdir DIR)".
std::string TensorBoardDir(const std::string& checkpoint_dir);
std::string TensorBoardLine(const std::string& checkpoint_dir);
// "RUNNING", "SUCCEEDED", ...
std::string StateName(bagel::v1::JobState s);
// Parses "running" / "RUNNING" into a state; nullopt if unknown.
std::optional<bagel::v1::JobState> ParseState(const std::string& s);

}  // namespace bagel::ctl
