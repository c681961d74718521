// Bad input at the API: a corpus of invalid specs (tests/service/invalid_specs/*.yaml, each
// naming what the error must say) and thousands of fuzzed specs are all refused cleanly -- the
// right code, a message naming the field, value and expectation -- and nothing is half-stored.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "service/client/channel.h"
#include "tests/service/in_process_coordinator.h"

namespace bagel::testing {
namespace {

namespace fs = std::filesystem;
using grpc::StatusCode;

const std::string kValid =
    "name: fuzz-base\n"
    "model:\n  stage: 2\n  init_from: {preset: tiny, seed: 7}\n  vae: @DATA@/ae.safetensors\n"
    "data:\n  groups:\n    - {name: text, type: text, paths: [@DATA@/text.jsonl], weight: 1.0}\n"
    "    - {name: vlm, type: vlm_sft, paths: [@DATA@/vlm.jsonl], image_root: @DATA@/img}\n"
    "  tokenizer: @DATA@/tokenizer\n"
    "  expected_num_tokens: 1024\n  max_num_tokens: 2048\n  max_num_tokens_per_sample: 1024\n"
    "train: {steps: 10, lr: 0.001, warmup_steps: 2, schedule: cosine, ema_decay: 0.99}\n"
    "parallel: {workers: 1, gpus_per_worker: 0}\n"
    "checkpoint: {every_steps: 5, keep_last: 2}\n"
    "scheduling: {priority: 3, max_restarts: 1}\n";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

class InvalidSpecTest : public ::testing::Test {
 protected:
  InvalidSpecTest()
      : coord_("invalid-specs", [](config::ServiceConfig& c) { c.max_message_bytes = 2 << 20; }) {
    jobs_ = bagel::v1::JobService::NewStub(coord_.Channel());
    data_ = coord_.config().data_roots[0];
  }

  grpc::Status Submit(const std::string& spec, bagel::v1::SubmitJobResponse* resp = nullptr) {
    bagel::v1::SubmitJobRequest req;
    req.set_spec_yaml(spec);
    bagel::v1::SubmitJobResponse r;
    auto ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
    return jobs_->SubmitJob(ctx.get(), req, resp ? resp : &r);
  }

  int StoredJobs() {
    bagel::v1::ListJobsRequest req;
    req.set_page_size(500);
    int n = 0;
    while (true) {
      bagel::v1::ListJobsResponse resp;
      auto ctx = service::MakeContext(kAdminToken, std::chrono::seconds(10));
      EXPECT_TRUE(jobs_->ListJobs(ctx.get(), req, &resp).ok());
      n += resp.jobs_size();
      if (resp.next_page_token().empty()) return n;
      req.set_page_token(resp.next_page_token());
    }
  }

  InProcessCoordinator coord_;
  std::unique_ptr<bagel::v1::JobService::Stub> jobs_;
  std::string data_;
};

TEST_F(InvalidSpecTest, TheBaseSpecIsValid) {
  EXPECT_TRUE(Submit(Replace(kValid, "@DATA@", data_)).ok());
}

TEST_F(InvalidSpecTest, EverySpecOfTheCorpusIsRefusedNamingTheField) {
  const std::string dir = EnvOr("BAGEL_INVALID_SPECS", TestSourceDir() + "/invalid_specs");
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = Replace(ss.str(), "@DATA@", data_);
    std::string expect, code = "INVALID_ARGUMENT";
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line) && line.rfind("#", 0) == 0) {
      if (line.rfind("# expect: ", 0) == 0) expect = line.substr(10);
      if (line.rfind("# code: ", 0) == 0) code = line.substr(8);
    }
    SCOPED_TRACE(e.path().filename().string());
    const grpc::Status s = Submit(text);
    EXPECT_EQ(s.error_code(),
              code == "NOT_FOUND" ? StatusCode::NOT_FOUND : StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    EXPECT_NE(s.error_message().find(expect), std::string::npos)
        << "message: " << s.error_message() << "\nexpected to contain: " << expect;
    ++n;
  }
  EXPECT_GE(n, 30);
  EXPECT_EQ(StoredJobs(), 0);  // nothing half-stored
}

TEST_F(InvalidSpecTest, FuzzedSpecsAreRefusedCleanlyOrAccepted) {
  const std::string base = Replace(kValid, "@DATA@", data_);
  std::mt19937 rng(20240607);
  const char* kTokens[] = {"-1",
                           "0",
                           "1e309",
                           "nan",
                           "~",
                           "[]",
                           "{}",
                           "''",
                           "\"\\u0000\"",
                           "/etc/passwd",
                           "../../x",
                           "stage2",
                           "true",
                           ": :",
                           "- a",
                           "&a *a",
                           "!!binary aGk=",
                           "99999999999999999999",
                           "\t",
                           "\n  x: 1"};
  const int iterations =
      std::getenv("BAGEL_FUZZ_ITERATIONS") ? std::atoi(std::getenv("BAGEL_FUZZ_ITERATIONS")) : 1500;
  int accepted = 0, refused = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const size_t pos = rng() % (s.size() + 1);
      switch (rng() % 5) {
        case 0:  // flip a byte
          if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng() % 256);
          break;
        case 1:  // cut
          s = s.substr(0, pos);
          break;
        case 2:  // insert a nasty token
          s.insert(pos, kTokens[rng() % (sizeof(kTokens) / sizeof(*kTokens))]);
          break;
        case 3: {  // replace a scalar after a colon
          const size_t colon = s.find(": ", pos);
          if (colon != std::string::npos) {
            const size_t end = s.find_first_of(",}\n", colon + 2);
            s.replace(colon + 2, (end == std::string::npos ? s.size() : end) - colon - 2,
                      kTokens[rng() % (sizeof(kTokens) / sizeof(*kTokens))]);
          }
          break;
        }
        default:  // duplicate a chunk
          s.insert(pos, s.substr(rng() % (s.size() + 1), rng() % 64));
      }
    }
    const grpc::Status st = Submit(s);
    if (st.ok()) {
      ++accepted;
      continue;
    }
    ++refused;
    // Clean refusals only: never INTERNAL, UNKNOWN or a dropped connection.
    ASSERT_TRUE(st.error_code() == StatusCode::INVALID_ARGUMENT ||
                st.error_code() == StatusCode::NOT_FOUND)
        << "iteration " << i << ": code " << st.error_code() << " " << st.error_message()
        << "\nspec:\n"
        << s;
    ASSERT_FALSE(st.error_message().empty());
  }
  EXPECT_GT(refused, iterations / 4);
  // Exactly the accepted ones are stored, and they survive a restart.
  EXPECT_EQ(StoredJobs(), accepted);
  coord_.Restart();
  jobs_ = bagel::v1::JobService::NewStub(coord_.Channel());
  EXPECT_EQ(StoredJobs(), accepted);
}

TEST_F(InvalidSpecTest, OversizedInputIsRefused) {
  // Over the server's message limit: refused by gRPC itself.
  const std::string huge(3 << 20, 'x');
  EXPECT_EQ(Submit(huge).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  // Under the message limit but over the spec limit (1 MiB): the parser says so.
  std::string big = Replace(kValid, "@DATA@", data_) + "# " + std::string(1200 << 10, 'x') + "\n";
  const grpc::Status s = Submit(big);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("1 MiB"), std::string::npos) << s.error_message();
  // A long request id.
  bagel::v1::SubmitJobRequest req;
  req.set_spec_yaml(Replace(kValid, "@DATA@", data_));
  req.set_request_id(std::string(200, 'r'));
  bagel::v1::SubmitJobResponse resp;
  auto ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
  EXPECT_EQ(jobs_->SubmitJob(ctx.get(), req, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(StoredJobs(), 0);
}

TEST_F(InvalidSpecTest, IdempotentSubmitWithARequestId) {
  bagel::v1::SubmitJobRequest req;
  req.set_spec_yaml(Replace(kValid, "@DATA@", data_));
  req.set_request_id("3f2c9a1e-retry");
  bagel::v1::SubmitJobResponse a, b;
  auto ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
  ASSERT_TRUE(jobs_->SubmitJob(ctx.get(), req, &a).ok());
  ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
  ASSERT_TRUE(jobs_->SubmitJob(ctx.get(), req, &b).ok());
  EXPECT_TRUE(b.existing());
  EXPECT_EQ(a.job().id(), b.job().id());
  req.set_spec_yaml(Replace(Replace(kValid, "@DATA@", data_), "steps: 10", "steps: 11"));
  ctx = service::MakeContext(kAliceToken, std::chrono::seconds(10));
  EXPECT_EQ(jobs_->SubmitJob(ctx.get(), req, &b).error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(StoredJobs(), 1);
}

}  // namespace
}  // namespace bagel::testing
