// What a step line reports about the ranks besides the losses: peak memory, and the samples and
// skipped records of every rank's data loader (a collective).
#pragma once

#include <ATen/ATen.h>

#include "contract/progress_line.h"
#include "worker/data/datasets/data_stats.h"
#include "worker/dist/communicator.h"

namespace bagel::train {

// The process's peak resident set, bytes.
double HostPeakBytes();

// Peak memory of the device the rank trains on: the caching allocator's peak allocated bytes on
// an accelerator, the process's peak resident set on CPU.
double DeviceMemoryBytes(const at::Device& device);

// Sums every rank's packed samples and skipped records by reason into `line`'s data counts (a
// collective: every rank calls it at the same step; reasons outside the contract's list count
// as "other").
void AddDataCountsOfAllRanks(const data::DataStats& stats, dist::Communicator& world,
                             const at::Device& device, contract::ProgressLine& line);

}  // namespace bagel::train
