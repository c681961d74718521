// The bagelctl commands (SERVICE.md): each prints a human table by default or protobuf's JSON
// mapping with --json, and returns the process's exit status; bad input and failed calls end
// the process through Die() with a message (status 2 for invalid arguments, 1 otherwise).
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <vector>

#include "bagel/v1/cluster_service.grpc.pb.h"
#include "bagel/v1/job_service.grpc.pb.h"
#include "service/client/channel.h"
#include "service/common/clock.h"

namespace bagel::ctl {

struct Globals {
  bagel::service::ClientOptions client;
  std::string token_file;
  bool json = false;
  double timeout_s = 30;
};

class Ctl {
 public:
  // `clock` (not owned; null: the system clock) gives the ages and the watch's elapsed time;
  // tests pass a service::ManualClock.
  explicit Ctl(const Globals& g, const bagel::service::Clock* clock = nullptr);
  std::unique_ptr<grpc::ClientContext> Ctx(double seconds = -1);
  [[noreturn]] static void Die(int code, const std::string& msg);
  static void Check(const grpc::Status& s);
  void PrintJson(const google::protobuf::Message& m);
  int Submit(const std::string& file, const std::string& request_id, bool watch);
  int List(const std::vector<std::string>& states, const std::string& prefix,
           const std::string& owner, int limit);
  int Get(const std::string& id);
  // Streams the job's events; reconnects while the coordinator is unavailable (a restart).
  int Watch(const std::string& id);
  int Cancel(const std::string& id);
  int Checkpoints(const std::string& id);
  int Logs(const std::string& id, int attempt, int rank, bool follow);
  int Workers(const std::string& action, const std::string& name);
  int Export(const std::string& id, const std::string& out);

 private:
  Globals g_;
  bagel::service::SystemClock system_clock_;
  const bagel::service::Clock* clock_;
  std::unique_ptr<bagel::v1::JobService::Stub> jobs_;
  std::unique_ptr<bagel::v1::ClusterService::Stub> cluster_;
};

}  // namespace bagel::ctl
