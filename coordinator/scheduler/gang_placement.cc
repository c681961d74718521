#include "coordinator/scheduler/gang_placement.h"

#include <algorithm>

namespace bagel::coord {
namespace {

int Free(const GangRequest& r, const WorkerCapacity& w) {
  return r.gpus_per_worker > 0 ? w.gpus_free : w.cpu_free;
}
int Total(const GangRequest& r, const WorkerCapacity& w) {
  return r.gpus_per_worker > 0 ? w.gpus_total : w.cpu_total;
}
int Need(const GangRequest& r) { return r.gpus_per_worker > 0 ? r.gpus_per_worker : 1; }

}  // namespace

std::optional<std::vector<std::string>> PlaceGang(const GangRequest& request,
                                                  const std::vector<WorkerCapacity>& workers) {
  if (request.workers <= 0) return std::nullopt;
  std::vector<const WorkerCapacity*> fits;
  for (const auto& w : workers) {
    if (Free(request, w) >= Need(request)) fits.push_back(&w);
  }
  if (static_cast<int>(fits.size()) < request.workers) return std::nullopt;
  std::sort(fits.begin(), fits.end(), [&](const WorkerCapacity* a, const WorkerCapacity* b) {
    const int fa = Free(request, *a), fb = Free(request, *b);
    return fa != fb ? fa < fb : a->name < b->name;
  });
  std::vector<std::string> chosen;
  for (int i = 0; i < request.workers; ++i) chosen.push_back(fits[i]->name);
  return chosen;
}

bool CouldEverFit(const GangRequest& request, const std::vector<WorkerCapacity>& workers) {
  int n = 0;
  for (const auto& w : workers) n += Total(request, w) >= Need(request) ? 1 : 0;
  return n >= request.workers;
}

}  // namespace bagel::coord
