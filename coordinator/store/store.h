// The control plane's durable state, behind a small interface (SqliteStore implements it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/store/records.h"

namespace bagel::coord {

class Store {
 public:
  virtual ~Store() = default;

  // Applies every write of `batch` atomically: all or nothing. UNAVAILABLE/INTERNAL on I/O
  // failure (then nothing was written).
  virtual absl::Status Apply(const WriteBatch& batch) = 0;

  // Reads the whole state (at startup).
  virtual absl::StatusOr<StoredState> Load() = 0;

  // The newest `limit` events of a job, oldest first.
  virtual absl::StatusOr<std::vector<EventRecord>> Events(const std::string& job_id, int limit) = 0;
};

}  // namespace bagel::coord
