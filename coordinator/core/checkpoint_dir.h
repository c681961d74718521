// The coordinator's view of a job's checkpoint directory <root>/<job>/ (the layout is
// contract/checkpoint_layout.h): which step directories are complete, what LATEST names, and the
// PINNED file that tells the trainer's retention what it must keep.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace bagel::coord {

struct CheckpointOnDisk {
  int64_t step = 0;
  std::string path;   // <job dir>/step-<N>
  int64_t bytes = 0;  // sum of the files the manifest lists
};

// Complete checkpoints of a job directory, oldest first: directories whose name is a step
// (contract::StepOfDirName: "step-" and 8 to 18 digits, so never a ".staging" one) whose
// MANIFEST.json is a JSON object and whose listed files exist with the listed sizes. Hashes are
// the trainer's to verify when it loads.
std::vector<CheckpointOnDisk> ScanCheckpoints(const std::string& job_dir);

// Checks one step directory as ScanCheckpoints does.
bool IsCompleteCheckpoint(const std::string& step_dir, int64_t* bytes = nullptr);

// The directory name LATEST holds ("" when absent).
std::string ReadLatest(const std::string& job_dir);

// Replaces <job_dir>/PINNED atomically (write a temporary file, rename) with one directory name
// per line. Creates job_dir when missing.
absl::Status WritePinned(const std::string& job_dir, const std::vector<std::string>& names);

}  // namespace bagel::coord
