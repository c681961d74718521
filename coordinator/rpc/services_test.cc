// The gRPC services on their own: a control plane on an in-memory store and a ManualClock, the
// three services on a loopback port, and stubs. What is theirs alone: which token each API
// takes, that control-plane errors come back with the same code, and that the shutdown flag
// ends streams with UNAVAILABLE.
#include "coordinator/rpc/services.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "coordinator/store/sqlite_store.h"
#include "service/client/channel.h"
#include "service/common/clock.h"
#include "testing/temp_dir.h"

namespace bagel::coord {
namespace {

constexpr char kUser[] = "user-token-0123456789abcdef";
constexpr char kWorker[] = "worker-token-0123456789abcdef";
const std::string kSpec =
    "model: {stage: 1, init_from: {preset: tiny}}\n"
    "data: {groups: [{name: demo, type: demo}]}\ntrain: {steps: 3}\n";

class ServicesTest : public ::testing::Test {
 protected:
  ServicesTest() {
    store_ = std::move(*SqliteStore::Open(":memory:"));
    ControlPlaneOptions o;
    o.checkpoint_root = dir_.File("checkpoints");
    o.data_roots = {dir_.File("data")};
    plane_ = std::make_unique<ControlPlane>(o, store_.get(), &clock_);
    EXPECT_TRUE(plane_->Recover().ok());
    config::AuthConfig auth;
    auth.users = {{"alice", kUser, config::Role::kUser}};
    auth.worker_token = kWorker;
    auth_ = std::make_unique<Authenticator>(auth);
    ServiceContext ctx{plane_.get(), auth_.get(), &shutting_down_, false};
    jobs_impl_ = std::make_unique<JobServiceImpl>(ctx);
    cluster_impl_ = std::make_unique<ClusterServiceImpl>(ctx);
    workers_impl_ = std::make_unique<WorkerServiceImpl>(ctx);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(jobs_impl_.get());
    b.RegisterService(cluster_impl_.get());
    b.RegisterService(workers_impl_.get());
    server_ = b.BuildAndStart();
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                       grpc::InsecureChannelCredentials());
    jobs_ = bagel::v1::JobService::NewStub(channel);
    workers_ = bagel::v1::WorkerService::NewStub(channel);
  }
  ~ServicesTest() override {
    shutting_down_ = true;
    plane_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  grpc::Status Submit(const std::string& token, bagel::v1::SubmitJobResponse* resp) {
    bagel::v1::SubmitJobRequest req;
    req.set_spec_yaml(kSpec);
    auto ctx = service::MakeContext(token, std::chrono::seconds(10));
    return jobs_->SubmitJob(ctx.get(), req, resp);
  }

  bagel::testing::TempDir dir_;
  service::ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ControlPlane> plane_;
  std::unique_ptr<Authenticator> auth_;
  std::atomic<bool> shutting_down_{false};
  std::unique_ptr<JobServiceImpl> jobs_impl_;
  std::unique_ptr<ClusterServiceImpl> cluster_impl_;
  std::unique_ptr<WorkerServiceImpl> workers_impl_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<bagel::v1::JobService::Stub> jobs_;
  std::unique_ptr<bagel::v1::WorkerService::Stub> workers_;
};

// The job API takes a user's token only; the worker API the join token only.
TEST_F(ServicesTest, EachApiTakesItsOwnToken) {
  bagel::v1::SubmitJobResponse resp;
  EXPECT_EQ(Submit("", &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit("not-a-token", &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(kWorker, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Submit(kUser, &resp).ok());
  EXPECT_EQ(resp.job().owner(), "alice");

  bagel::v1::RegisterRequest reg;
  reg.set_name("w1");
  reg.set_incarnation("i1");
  reg.set_address("127.0.0.1");
  reg.set_cpu_slots(1);
  bagel::v1::RegisterResponse reg_resp;
  auto ctx = service::MakeContext(kUser, std::chrono::seconds(10));
  EXPECT_EQ(workers_->Register(ctx.get(), reg, &reg_resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ctx = service::MakeContext(kWorker, std::chrono::seconds(10));
  EXPECT_TRUE(workers_->Register(ctx.get(), reg, &reg_resp).ok());
}

// A control-plane error reaches the client with its code and message.
TEST_F(ServicesTest, ControlPlaneErrorsKeepTheirCode) {
  bagel::v1::GetJobRequest req;
  req.set_job_id("j-does-not-exist");
  bagel::v1::Job job;
  auto ctx = service::MakeContext(kUser, std::chrono::seconds(10));
  const grpc::Status s = jobs_->GetJob(ctx.get(), req, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("j-does-not-exist"), std::string::npos) << s.error_message();
  bagel::v1::SubmitJobRequest bad;
  bad.set_spec_yaml("train: {steps: -1}\n");
  bagel::v1::SubmitJobResponse resp;
  ctx = service::MakeContext(kUser, std::chrono::seconds(10));
  EXPECT_EQ(jobs_->SubmitJob(ctx.get(), bad, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A watch stream first sends the job's snapshot; when the server shuts down, the open stream
// ends with UNAVAILABLE (clients reconnect to the next coordinator) rather than OK, which would
// read as "the job ended".
TEST_F(ServicesTest, WatchSendsASnapshotAndShutdownEndsStreams) {
  bagel::v1::SubmitJobResponse resp;
  ASSERT_TRUE(Submit(kUser, &resp).ok());
  bagel::v1::WatchJobRequest req;
  req.set_job_id(resp.job().id());
  auto ctx = service::MakeContext(kUser, std::chrono::seconds(10));
  auto reader = jobs_->WatchJob(ctx.get(), req);
  bagel::v1::JobEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.kind(), bagel::v1::JobEvent::SNAPSHOT);
  EXPECT_EQ(ev.job().id(), resp.job().id());
  shutting_down_ = true;
  plane_->Shutdown();
  while (reader->Read(&ev)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace bagel::coord
