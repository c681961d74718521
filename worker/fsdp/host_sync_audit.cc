#include "worker/fsdp/host_sync_audit.h"

#include <ATen/core/ivalue.h>

#include <cstring>

namespace bagel::fsdp {
namespace {

// The audit whose window is open on this thread (the callback is a plain function pointer).
thread_local HostSyncAudit* open_audit = nullptr;

bool IsDeviceTensor(const c10::IValue& v) { return v.isTensor() && !v.toTensor().is_cpu(); }

bool IsCpuTensor(const c10::IValue& v) { return v.isTensor() && v.toTensor().is_cpu(); }

std::unique_ptr<at::ObserverContext> OnOperator(const at::RecordFunction& fn) {
  HostSyncAudit* audit = open_audit;
  if (audit == nullptr) return nullptr;
  const char* name = fn.name();
  if (std::strcmp(name, "aten::_local_scalar_dense") == 0) {
    audit->Record(name);
  } else if (std::strcmp(name, "aten::copy_") == 0) {
    const auto in = fn.inputs();  // (self = destination, src, non_blocking)
    if (in.size() >= 2 && IsCpuTensor(in[0]) && IsDeviceTensor(in[1])) audit->Record(name);
  } else if (std::strcmp(name, "aten::_to_copy") == 0) {
    const auto in = fn.inputs();  // (self, dtype, layout, device, ...)
    if (in.size() >= 4 && IsDeviceTensor(in[0]) && in[3].isDevice() && in[3].toDevice().is_cpu())
      audit->Record(name);
  }
  return nullptr;
}

}  // namespace

HostSyncAudit::HostSyncAudit() {
  handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&OnOperator)
                                           .needsInputs(true)
                                           .scopes({at::RecordScope::FUNCTION}));
}

HostSyncAudit::~HostSyncAudit() {
  End();
  at::removeCallback(handle_);
}

void HostSyncAudit::Begin() {
  open_ = true;
  open_audit = this;
}

void HostSyncAudit::End() {
  open_ = false;
  if (open_audit == this) open_audit = nullptr;
}

}  // namespace bagel::fsdp
