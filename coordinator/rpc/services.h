// The gRPC services of bagel.v1 on top of the ControlPlane: each handler authenticates the
// caller (bearer token; worker calls also a client certificate when mTLS is configured), calls
// the control plane and maps its absl::Status one to one onto the gRPC status. Streams poll
// their queues so they notice cancellation and server shutdown within a quarter second.
#pragma once

#include <atomic>

#include "bagel/v1/cluster_service.grpc.pb.h"
#include "bagel/v1/job_service.grpc.pb.h"
#include "bagel/v1/worker_service.grpc.pb.h"
#include "coordinator/auth/authenticator.h"
#include "coordinator/core/control_plane.h"

namespace bagel::coord {

// What every service needs: the control plane, the authenticator, the shutdown flag.
struct ServiceContext {
  ControlPlane* control_plane = nullptr;
  const Authenticator* auth = nullptr;
  const std::atomic<bool>* shutting_down = nullptr;
  bool require_worker_client_cert = false;
};

class JobServiceImpl final : public bagel::v1::JobService::Service {
 public:
  explicit JobServiceImpl(ServiceContext ctx) : ctx_(ctx) {}
  grpc::Status SubmitJob(grpc::ServerContext* context, const bagel::v1::SubmitJobRequest* request,
                         bagel::v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const bagel::v1::GetJobRequest* request,
                      bagel::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const bagel::v1::ListJobsRequest* request,
                        bagel::v1::ListJobsResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const bagel::v1::WatchJobRequest* request,
                        grpc::ServerWriter<bagel::v1::JobEvent>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const bagel::v1::CancelJobRequest* request,
                         bagel::v1::Job* response) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const bagel::v1::ListCheckpointsRequest* request,
                               bagel::v1::ListCheckpointsResponse* response) override;
  grpc::Status GetLogs(grpc::ServerContext* context, const bagel::v1::GetLogsRequest* request,
                       grpc::ServerWriter<bagel::v1::LogChunk>* writer) override;
  grpc::Status ExportJob(grpc::ServerContext* context, const bagel::v1::ExportJobRequest* request,
                         grpc::ServerWriter<bagel::v1::FileChunk>* writer) override;

 private:
  ServiceContext ctx_;
};

class ClusterServiceImpl final : public bagel::v1::ClusterService::Service {
 public:
  explicit ClusterServiceImpl(ServiceContext ctx) : ctx_(ctx) {}
  grpc::Status ListWorkers(grpc::ServerContext* context,
                           const bagel::v1::ListWorkersRequest* request,
                           bagel::v1::ListWorkersResponse* response) override;
  grpc::Status DrainWorker(grpc::ServerContext* context,
                           const bagel::v1::DrainWorkerRequest* request,
                           bagel::v1::Worker* response) override;

 private:
  ServiceContext ctx_;
};

class WorkerServiceImpl final : public bagel::v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(ServiceContext ctx) : ctx_(ctx) {}
  grpc::Status Register(grpc::ServerContext* context, const bagel::v1::RegisterRequest* request,
                        bagel::v1::RegisterResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const bagel::v1::HeartbeatRequest* request,
                         bagel::v1::HeartbeatResponse* response) override;
  grpc::Status Assignments(grpc::ServerContext* context,
                           const bagel::v1::AssignmentsRequest* request,
                           grpc::ServerWriter<bagel::v1::Assignment>* writer) override;
  grpc::Status ReportStarted(grpc::ServerContext* context,
                             const bagel::v1::ReportStartedRequest* request,
                             bagel::v1::ReportAck* response) override;
  grpc::Status ReportProgress(grpc::ServerContext* context,
                              const bagel::v1::ReportProgressRequest* request,
                              bagel::v1::ReportAck* response) override;
  grpc::Status ReportExit(grpc::ServerContext* context, const bagel::v1::ReportExitRequest* request,
                          bagel::v1::ReportAck* response) override;

 private:
  absl::Status Check(grpc::ServerContext* context) const;
  ServiceContext ctx_;
};

}  // namespace bagel::coord
