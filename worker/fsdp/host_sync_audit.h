// Counts the host synchronisations a thread makes between Begin and End: reads of a tensor's
// value into a host scalar (aten::_local_scalar_dense, behind .item()) and copies of a device
// tensor to the host. On a GPU each one stalls the host until the device has caught up, so a
// training step must make none between its first forward and the optimizer (issue 16); the
// engine opens the window at BeginForward and closes it when the optimizer step starts
// (FsdpEngine::set_host_sync_audit), and tests assert the count is zero. It observes through
// ATen's RecordFunction callbacks on this thread (and the autograd threads it hands work to),
// so it costs nothing when no audit is attached.
#pragma once

#include <ATen/record_function.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bagel::fsdp {

class HostSyncAudit {
 public:
  HostSyncAudit();
  ~HostSyncAudit();
  HostSyncAudit(const HostSyncAudit&) = delete;
  HostSyncAudit& operator=(const HostSyncAudit&) = delete;

  void Begin();  // idempotent: a window already open stays open
  void End();
  bool open() const { return open_; }

  int64_t count() const { return static_cast<int64_t>(syncs_.size()); }
  // The operators that synchronised, in order ("aten::_local_scalar_dense", ...).
  const std::vector<std::string>& syncs() const { return syncs_; }
  void Record(const char* op) { syncs_.emplace_back(op); }

 private:
  bool open_ = false;
  std::vector<std::string> syncs_;
  at::CallbackHandle handle_ = 0;
};

}  // namespace bagel::fsdp
