// Authentication and authorisation at the gRPC boundary: UNAUTHENTICATED for missing or wrong
// credentials, PERMISSION_DENIED for what a principal may not do (SERVICE.md, Security), and
// TLS when certificates are configured.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "bagel/v1/worker_service.grpc.pb.h"
#include "service/client/channel.h"
#include "testing/temp_dir.h"
#include "tests/service/in_process_coordinator.h"

namespace bagel::testing {
namespace {

namespace fs = std::filesystem;
using grpc::StatusCode;

const char* kSpec =
    "model: {stage: 1, init_from: {preset: tiny}}\ndata: {groups: [{name: demo, type: demo}]}\n"
    "train: {steps: 5}\nparallel: {workers: 1, gpus_per_worker: 0}\n";

class AuthTest : public ::testing::Test {
 protected:
  AuthTest() : coord_("auth") {
    jobs_ = bagel::v1::JobService::NewStub(coord_.Channel());
    cluster_ = bagel::v1::ClusterService::NewStub(coord_.Channel());
    workers_ = bagel::v1::WorkerService::NewStub(coord_.Channel());
  }
  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
    return service::MakeContext(token, std::chrono::seconds(10));
  }
  std::string SubmitAs(const std::string& token) {
    bagel::v1::SubmitJobRequest req;
    req.set_spec_yaml(kSpec);
    bagel::v1::SubmitJobResponse resp;
    auto ctx = Ctx(token);
    EXPECT_TRUE(jobs_->SubmitJob(ctx.get(), req, &resp).ok());
    return resp.job().id();
  }

  InProcessCoordinator coord_;
  std::unique_ptr<bagel::v1::JobService::Stub> jobs_;
  std::unique_ptr<bagel::v1::ClusterService::Stub> cluster_;
  std::unique_ptr<bagel::v1::WorkerService::Stub> workers_;
};

TEST_F(AuthTest, MissingOrWrongCredentialsAreUnauthenticated) {
  for (const std::string token : {"", "not-a-token", "alice-token-0123456789abcdeX"}) {
    SCOPED_TRACE(token);
    bagel::v1::SubmitJobRequest sreq;
    sreq.set_spec_yaml(kSpec);
    bagel::v1::SubmitJobResponse sresp;
    auto ctx = Ctx(token);
    EXPECT_EQ(jobs_->SubmitJob(ctx.get(), sreq, &sresp).error_code(), StatusCode::UNAUTHENTICATED);
    bagel::v1::ListJobsResponse lresp;
    ctx = Ctx(token);
    EXPECT_EQ(jobs_->ListJobs(ctx.get(), {}, &lresp).error_code(), StatusCode::UNAUTHENTICATED);
    bagel::v1::GetJobRequest greq;
    greq.set_job_id("j-1");
    bagel::v1::Job job;
    ctx = Ctx(token);
    EXPECT_EQ(jobs_->GetJob(ctx.get(), greq, &job).error_code(), StatusCode::UNAUTHENTICATED);
    bagel::v1::WatchJobRequest wreq;
    wreq.set_job_id("j-1");
    ctx = Ctx(token);
    auto reader = jobs_->WatchJob(ctx.get(), wreq);
    bagel::v1::JobEvent ev;
    while (reader->Read(&ev)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), StatusCode::UNAUTHENTICATED);
    bagel::v1::ListWorkersResponse wresp;
    ctx = Ctx(token);
    EXPECT_EQ(cluster_->ListWorkers(ctx.get(), {}, &wresp).error_code(),
              StatusCode::UNAUTHENTICATED);
    bagel::v1::RegisterRequest rreq;
    rreq.set_name("w1");
    rreq.set_address("127.0.0.1");
    rreq.set_incarnation("x");
    bagel::v1::RegisterResponse rresp;
    ctx = Ctx(token);
    EXPECT_EQ(workers_->Register(ctx.get(), rreq, &rresp).error_code(),
              StatusCode::UNAUTHENTICATED);
  }
}

TEST_F(AuthTest, TokensOnlyOpenTheirOwnApi) {
  bagel::v1::ListJobsResponse lresp;
  auto ctx = Ctx(kJoinToken);
  EXPECT_EQ(jobs_->ListJobs(ctx.get(), {}, &lresp).error_code(), StatusCode::PERMISSION_DENIED);
  bagel::v1::RegisterRequest rreq;
  rreq.set_name("w1");
  rreq.set_address("127.0.0.1");
  rreq.set_incarnation("x");
  bagel::v1::RegisterResponse rresp;
  ctx = Ctx(kAliceToken);
  EXPECT_EQ(workers_->Register(ctx.get(), rreq, &rresp).error_code(),
            StatusCode::PERMISSION_DENIED);
  ctx = Ctx(kAdminToken);
  EXPECT_EQ(workers_->Register(ctx.get(), rreq, &rresp).error_code(),
            StatusCode::PERMISSION_DENIED);
  ctx = Ctx(kJoinToken);
  EXPECT_TRUE(workers_->Register(ctx.get(), rreq, &rresp).ok());
}

TEST_F(AuthTest, UsersSeeAndCancelOnlyTheirOwnJobs) {
  const std::string alices = SubmitAs(kAliceToken);
  const std::string bobs = SubmitAs(kBobToken);
  bagel::v1::GetJobRequest greq;
  greq.set_job_id(alices);
  bagel::v1::Job job;
  auto ctx = Ctx(kBobToken);
  EXPECT_EQ(jobs_->GetJob(ctx.get(), greq, &job).error_code(), StatusCode::PERMISSION_DENIED);
  bagel::v1::CancelJobRequest creq;
  creq.set_job_id(alices);
  ctx = Ctx(kBobToken);
  EXPECT_EQ(jobs_->CancelJob(ctx.get(), creq, &job).error_code(), StatusCode::PERMISSION_DENIED);
  bagel::v1::GetLogsRequest logs;
  logs.set_job_id(alices);
  ctx = Ctx(kBobToken);
  auto reader = jobs_->GetLogs(ctx.get(), logs);
  bagel::v1::LogChunk chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), StatusCode::PERMISSION_DENIED);
  bagel::v1::ListCheckpointsRequest cps;
  cps.set_job_id(alices);
  bagel::v1::ListCheckpointsResponse cpsr;
  ctx = Ctx(kBobToken);
  EXPECT_EQ(jobs_->ListCheckpoints(ctx.get(), cps, &cpsr).error_code(),
            StatusCode::PERMISSION_DENIED);
  // Bob's list holds his job only; asking for Alice's is refused; the admin sees both.
  bagel::v1::ListJobsResponse list;
  ctx = Ctx(kBobToken);
  ASSERT_TRUE(jobs_->ListJobs(ctx.get(), {}, &list).ok());
  ASSERT_EQ(list.jobs_size(), 1);
  EXPECT_EQ(list.jobs(0).id(), bobs);
  bagel::v1::ListJobsRequest lreq;
  lreq.set_owner("alice");
  ctx = Ctx(kBobToken);
  EXPECT_EQ(jobs_->ListJobs(ctx.get(), lreq, &list).error_code(), StatusCode::PERMISSION_DENIED);
  ctx = Ctx(kAdminToken);
  ASSERT_TRUE(jobs_->ListJobs(ctx.get(), {}, &list).ok());
  EXPECT_EQ(list.jobs_size(), 2);
  // Unknown ids are NOT_FOUND.
  greq.set_job_id("j-000000000000");
  ctx = Ctx(kAliceToken);
  EXPECT_EQ(jobs_->GetJob(ctx.get(), greq, &job).error_code(), StatusCode::NOT_FOUND);
  // The admin may cancel anyone's job.
  ctx = Ctx(kAdminToken);
  EXPECT_TRUE(jobs_->CancelJob(ctx.get(), creq, &job).ok());
}

TEST_F(AuthTest, DrainNeedsAdmin) {
  bagel::v1::RegisterRequest rreq;
  rreq.set_name("w1");
  rreq.set_address("127.0.0.1");
  rreq.set_incarnation("x");
  bagel::v1::RegisterResponse rresp;
  auto ctx = Ctx(kJoinToken);
  ASSERT_TRUE(workers_->Register(ctx.get(), rreq, &rresp).ok());
  bagel::v1::DrainWorkerRequest d;
  d.set_name("w1");
  d.set_drain(true);
  bagel::v1::Worker w;
  ctx = Ctx(kAliceToken);
  EXPECT_EQ(cluster_->DrainWorker(ctx.get(), d, &w).error_code(), StatusCode::PERMISSION_DENIED);
  ctx = Ctx(kAdminToken);
  ASSERT_TRUE(cluster_->DrainWorker(ctx.get(), d, &w).ok());
  EXPECT_EQ(w.state(), bagel::v1::WORKER_DRAINING);
  // Workers are visible to users, their jobs are not.
  bagel::v1::ListWorkersResponse list;
  ctx = Ctx(kAliceToken);
  ASSERT_TRUE(cluster_->ListWorkers(ctx.get(), {}, &list).ok());
  EXPECT_EQ(list.workers_size(), 1);
}

// TLS with a self-signed certificate made by the openssl command (skipped without it).
TEST(TlsTest, ServesTlsAndRefusesPlaintext) {
  const bagel::testing::TempDir tmp("bagel-tls");
  const fs::path& dir = tmp.path();
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl is not available";
  InProcessCoordinator coord("tls", [&](config::ServiceConfig& c) {
    c.tls.cert_file = (dir / "cert.pem").string();
    c.tls.key_file = (dir / "key.pem").string();
  });
  service::ClientOptions o;
  o.target = coord.target();
  o.ca_cert_file = (dir / "cert.pem").string();
  o.tls_server_name = "localhost";
  auto jobs = bagel::v1::JobService::NewStub(*service::MakeChannel(o));
  bagel::v1::ListJobsResponse list;
  auto ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
  EXPECT_TRUE(jobs->ListJobs(ctx.get(), {}, &list).ok());
  auto plain = bagel::v1::JobService::NewStub(coord.Channel());
  ctx = service::MakeContext(kAliceToken, std::chrono::seconds(3));
  EXPECT_EQ(plain->ListJobs(ctx.get(), {}, &list).error_code(), StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace bagel::testing
