// absl::Status <-> grpc::Status: the codes are the same numbers, so the mapping is one to one and
// nothing in between invents an error vocabulary (SERVICE.md, gRPC conventions).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace bagel::coord {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace bagel::coord
