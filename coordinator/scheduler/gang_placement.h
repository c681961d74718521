// Gang placement (SERVICE.md): a job starts only when every one of its ranks has a place. A job
// asks for `workers` distinct machines with `ranks_per_worker` free slots each: GPUs when
// gpus_per_worker > 0 (one rank per GPU), else one CPU slot. Pure functions: the control plane
// supplies the capacity and applies the result.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bagel::coord {

struct WorkerCapacity {
  std::string name;
  int gpus_total = 0;
  int gpus_free = 0;
  int cpu_total = 0;
  int cpu_free = 0;
};

struct GangRequest {
  int workers = 1;
  int gpus_per_worker = 0;  // 0: one CPU rank per worker
};

// Chooses the workers for a gang, rank order = the order returned: best fit (the fewest free
// slots of the needed kind first, so big machines stay whole for big jobs), then by name for
// determinism. nullopt when the gang does not fit now.
std::optional<std::vector<std::string>> PlaceGang(const GangRequest& request,
                                                  const std::vector<WorkerCapacity>& workers);

// True when the gang would fit on these workers if they were idle (else waiting cannot help
// until the fleet grows).
bool CouldEverFit(const GangRequest& request, const std::vector<WorkerCapacity>& workers);

}  // namespace bagel::coord
