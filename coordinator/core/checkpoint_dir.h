// The coordinator's view of a job's checkpoint directory <root>/<job>/ (TRAINER_CONTRACT.md):
// which step directories are complete, what LATEST names, and the PINNED file that tells the
// trainer's retention what it must keep.
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

// Complete checkpoints of a job directory, oldest first: "step-<digits>" directories (never
// ".staging") whose MANIFEST.json is a JSON object and whose listed files exist with the listed
// sizes. Hashes are the trainer's to verify when it loads.
std::vector<CheckpointOnDisk> ScanCheckpoints(const std::string& job_dir);

// Checks one step directory as ScanCheckpoints does.
bool IsCompleteCheckpoint(const std::string& step_dir, int64_t* bytes = nullptr);

// The directory name LATEST holds ("" when absent).
std::string ReadLatest(const std::string& job_dir);

// Replaces <job_dir>/PINNED atomically (write a temporary file, rename) with one directory name
// per line. Creates job_dir when missing.
absl::Status WritePinned(const std::string& job_dir, const std::vector<std::string>& names);

// "step-00000050" -> 50; -1 when the name is not a step directory.
int64_t StepOfDirName(const std::string& name);

}  // namespace bagel::coord
