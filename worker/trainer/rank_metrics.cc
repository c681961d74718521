#include "worker/trainer/rank_metrics.h"

#include <ATen/DeviceAccelerator.h>
#include <sys/resource.h>

#include <algorithm>
#include <vector>

#include "contract/skip_reasons.h"

namespace bagel::train {

double HostPeakBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

double DeviceMemoryBytes(const at::Device& device) {
  if (device.is_cpu()) return HostPeakBytes();
  const auto stats = at::accelerator::getDeviceStats(device.index());
  return static_cast<double>(
      stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak);
}

void AddDataCountsOfAllRanks(const data::DataStats& stats, dist::Communicator& world,
                             const at::Device& device, contract::ProgressLine& line) {
  const auto& reasons = contract::kAllSkipReasons;
  // One slot per reason, then kSkipOther, then the samples packed.
  std::vector<double> counts(reasons.size() + 2, 0.0);
  counts.back() = static_cast<double>(stats.samples);
  for (const auto& [reason, n] : stats.skipped) {
    const char* reported = contract::ReportedSkipReason(reason);
    const auto it = std::find(reasons.begin(), reasons.end(), reported);
    counts[static_cast<size_t>(it - reasons.begin())] += static_cast<double>(n);
  }
  at::Tensor t = at::tensor(counts, at::TensorOptions().dtype(at::kDouble)).to(device);
  world.AllReduceSum(t);
  t = t.cpu();
  line.has_data_counts = true;
  line.data_skipped = 0;
  line.data_skipped_by_reason.clear();
  for (size_t i = 0; i + 1 < counts.size(); ++i) {
    const auto n = static_cast<int64_t>(t[static_cast<int64_t>(i)].item<double>());
    line.data_skipped += n;
    if (n > 0)
      line.data_skipped_by_reason[i < reasons.size() ? reasons[i] : contract::kSkipOther] = n;
  }
  line.data_samples =
      static_cast<int64_t>(t[static_cast<int64_t>(counts.size() - 1)].item<double>());
}

}  // namespace bagel::train
