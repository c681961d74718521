#include "coordinator/rpc/services.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "coordinator/rpc/status_mapping.h"

namespace bagel::coord {
namespace {

namespace fs = std::filesystem;
constexpr auto kPoll = std::chrono::milliseconds(250);
constexpr size_t kChunk = 256 << 10;

std::string Authorization(const grpc::ServerContext* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

absl::StatusOr<Principal> User(const ServiceContext& ctx, const grpc::ServerContext* context) {
  return ctx.auth->AuthenticateUser(Authorization(context));
}

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down; retry");
}

}  // namespace

// --- JobService ---

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* context,
                                       const bagel::v1::SubmitJobRequest* request,
                                       bagel::v1::SubmitJobResponse* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto r = ctx_.control_plane->SubmitJob(*who, request->spec_yaml(), request->request_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response->mutable_job() = std::move(r->job);
  response->set_existing(r->existing);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context,
                                    const bagel::v1::GetJobRequest* request,
                                    bagel::v1::Job* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto r = ctx_.control_plane->GetJob(*who, request->job_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context,
                                      const bagel::v1::ListJobsRequest* request,
                                      bagel::v1::ListJobsResponse* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto r = ctx_.control_plane->ListJobs(*who, *request);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* context,
                                      const bagel::v1::WatchJobRequest* request,
                                      grpc::ServerWriter<bagel::v1::JobEvent>* writer) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto h = ctx_.control_plane->WatchJob(*who, request->job_id());
  if (!h.ok()) return ToGrpcStatus(h.status());
  bagel::v1::JobEvent snapshot;
  snapshot.set_kind(bagel::v1::JobEvent::SNAPSHOT);
  *snapshot.mutable_job() = std::move(h->snapshot);
  if (!writer->Write(snapshot)) return grpc::Status::CANCELLED;
  while (true) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    auto ev = h->events->Pop(kPoll);
    if (ev) {
      if (!writer->Write(*ev)) return grpc::Status::CANCELLED;
      continue;
    }
    if (h->events->closed()) {
      // Closed because the job ended, or because the server stops.
      return ctx_.shutting_down->load() ? ShuttingDown() : grpc::Status::OK;
    }
  }
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* context,
                                       const bagel::v1::CancelJobRequest* request,
                                       bagel::v1::Job* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto r = ctx_.control_plane->CancelJob(*who, request->job_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListCheckpoints(grpc::ServerContext* context,
                                             const bagel::v1::ListCheckpointsRequest* request,
                                             bagel::v1::ListCheckpointsResponse* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto r = ctx_.control_plane->ListCheckpoints(*who, request->job_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (auto& c : *r) *response->add_checkpoints() = std::move(c);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::GetLogs(grpc::ServerContext* context,
                                     const bagel::v1::GetLogsRequest* request,
                                     grpc::ServerWriter<bagel::v1::LogChunk>* writer) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  if (request->offset() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "offset: expected >= 0");
  }
  auto loc =
      ctx_.control_plane->LogPath(*who, request->job_id(), request->attempt(), request->rank());
  if (!loc.ok()) return ToGrpcStatus(loc.status());
  int64_t offset = request->offset();
  std::string buf(kChunk, '\0');
  while (true) {
    const bool active = ctx_.control_plane->AttemptActive(request->job_id(), loc->attempt);
    std::ifstream in(loc->path, std::ios::binary);
    if (!in && !request->follow()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no log for rank ", request->rank(), " of attempt ",
                                       loc->attempt, " (yet)"));
    }
    bool wrote = false;
    if (in) {
      in.seekg(offset);
      while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = in.gcount();
        if (n <= 0) break;
        bagel::v1::LogChunk chunk;
        chunk.set_data(buf.data(), static_cast<size_t>(n));
        chunk.set_offset(offset);
        chunk.set_attempt(loc->attempt);
        offset += n;
        wrote = true;
        if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
      }
    }
    // Done when not following, or when the attempt had ended before this read began.
    if (!request->follow() || (!active && !wrote)) return grpc::Status::OK;
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    if (ctx_.shutting_down->load()) return ShuttingDown();
    if (!wrote) std::this_thread::sleep_for(kPoll);
  }
}

grpc::Status JobServiceImpl::ExportJob(grpc::ServerContext* context,
                                       const bagel::v1::ExportJobRequest* request,
                                       grpc::ServerWriter<bagel::v1::FileChunk>* writer) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto dir = ctx_.control_plane->ExportDir(*who, request->job_id());
  if (!dir.ok()) return ToGrpcStatus(dir.status());
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(*dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string buf(1 << 20, '\0');
  for (const auto& f : files) {
    const std::string rel = fs::relative(f, *dir).string();
    const int64_t size = static_cast<int64_t>(fs::file_size(f, ec));
    std::ifstream in(f, std::ios::binary);
    int64_t offset = 0;
    do {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = std::max<std::streamsize>(in.gcount(), 0);
      bagel::v1::FileChunk chunk;
      chunk.set_path(rel);
      chunk.set_offset(offset);
      chunk.set_size(size);
      chunk.set_data(buf.data(), static_cast<size_t>(n));
      offset += n;
      if (context->IsCancelled() || !writer->Write(chunk)) return grpc::Status::CANCELLED;
    } while (in && offset < size);
  }
  return grpc::Status::OK;
}

// --- ClusterService ---

grpc::Status ClusterServiceImpl::ListWorkers(grpc::ServerContext* context,
                                             const bagel::v1::ListWorkersRequest*,
                                             bagel::v1::ListWorkersResponse* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  for (auto& w : ctx_.control_plane->ListWorkers()) {
    if (!who->is_admin()) w.clear_running_jobs();  // other users' job ids are not theirs to see
    *response->add_workers() = std::move(w);
  }
  return grpc::Status::OK;
}

grpc::Status ClusterServiceImpl::DrainWorker(grpc::ServerContext* context,
                                             const bagel::v1::DrainWorkerRequest* request,
                                             bagel::v1::Worker* response) {
  auto who = User(ctx_, context);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto r = ctx_.control_plane->DrainWorker(*who, request->name(), request->drain());
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = std::move(*r);
  return grpc::Status::OK;
}

// --- WorkerService ---

absl::Status WorkerServiceImpl::Check(grpc::ServerContext* context) const {
  if (ctx_.require_worker_client_cert) {
    auto auth = context->auth_context();
    if (!auth || !auth->IsPeerAuthenticated()) {
      return absl::UnauthenticatedError("workers must present a client certificate (mTLS)");
    }
  }
  return ctx_.auth->AuthenticateWorker(Authorization(context)).status();
}

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const bagel::v1::RegisterRequest* request,
                                         bagel::v1::RegisterResponse* response) {
  if (auto s = Check(context); !s.ok()) return ToGrpcStatus(s);
  auto r = ctx_.control_plane->Register(*request);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const bagel::v1::HeartbeatRequest* request,
                                          bagel::v1::HeartbeatResponse* response) {
  if (auto s = Check(context); !s.ok()) return ToGrpcStatus(s);
  auto r = ctx_.control_plane->Heartbeat(*request);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Assignments(grpc::ServerContext* context,
                                            const bagel::v1::AssignmentsRequest* request,
                                            grpc::ServerWriter<bagel::v1::Assignment>* writer) {
  if (auto s = Check(context); !s.ok()) return ToGrpcStatus(s);
  auto q = ctx_.control_plane->OpenAssignments(request->name(), request->incarnation());
  if (!q.ok()) return ToGrpcStatus(q.status());
  // Headers now, so the agent knows the stream is open before the first assignment.
  writer->SendInitialMetadata();
  grpc::Status result = grpc::Status::OK;
  while (true) {
    if (context->IsCancelled()) {
      result = grpc::Status::CANCELLED;
      break;
    }
    auto a = (*q)->Pop(kPoll);
    if (a) {
      if (!writer->Write(*a)) {
        result = grpc::Status::CANCELLED;
        break;
      }
      continue;
    }
    if ((*q)->closed()) {
      result = ctx_.shutting_down->load()
                   ? ShuttingDown()
                   : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "assignment stream replaced or lease lost; register again");
      break;
    }
  }
  ctx_.control_plane->CloseAssignments(request->name(), *q);
  return result;
}

grpc::Status WorkerServiceImpl::ReportStarted(grpc::ServerContext* context,
                                              const bagel::v1::ReportStartedRequest* request,
                                              bagel::v1::ReportAck*) {
  if (auto s = Check(context); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(ctx_.control_plane->ReportStarted(*request));
}

grpc::Status WorkerServiceImpl::ReportProgress(grpc::ServerContext* context,
                                               const bagel::v1::ReportProgressRequest* request,
                                               bagel::v1::ReportAck*) {
  if (auto s = Check(context); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(ctx_.control_plane->ReportProgress(*request));
}

grpc::Status WorkerServiceImpl::ReportExit(grpc::ServerContext* context,
                                           const bagel::v1::ReportExitRequest* request,
                                           bagel::v1::ReportAck*) {
  if (auto s = Check(context); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(ctx_.control_plane->ReportExit(*request));
}

}  // namespace bagel::coord
