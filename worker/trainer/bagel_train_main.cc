// bagel-train: one rank of a BAGEL training job (contract/TRAINER_CONTRACT.md).
//
//   bagel-train --spec SPEC.yaml [--job-id ID] [--attempt N] [--checkpoint-root DIR]
//               [--resume auto|none|STEP_DIR] [--nproc N]
//
// The rank comes from RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT (torchrun's variables);
// without them it is a single process. --nproc N launches N local ranks of itself, as
// `torchrun --standalone --nproc-per-node N` would. Progress: JSON lines on stdout.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "config/job_spec.h"
#include "contract/exit_code.h"
#include "contract/progress_line.h"
#include "model/runtime/host_allocator.h"
#include "worker/dist/communicator.h"
#include "worker/dist/local_launcher.h"
#include "worker/trainer/train_job.h"

namespace {

using bagel::contract::ExitCode;
using bagel::contract::ExitStatus;

int Fail(ExitCode code, const std::string& message) {
  const char* rank = std::getenv("RANK");
  std::cerr << "bagel-train: error: " << message << std::endl;
  bagel::contract::ProgressLine e;
  e.kind = bagel::contract::ProgressLine::Kind::kError;
  e.rank = rank ? std::atoi(rank) : 0;
  e.message = message;
  std::printf("%s\n", bagel::contract::FormatProgressLine(e).c_str());
  std::fflush(stdout);
  return ExitStatus(code);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train BAGEL: one rank of a job (docs/TRAINER_CONTRACT.md)"};
  std::string spec_path;
  bagel::train::TrainJobOptions o;
  int nproc = 0;
  app.add_option("--spec", spec_path, "job spec (YAML, config/JOB_SPEC.md)")->required();
  app.add_option("--job-id", o.job_id, "job id (checkpoint directory name)");
  app.add_option("--attempt", o.attempt, "attempt number");
  app.add_option("--checkpoint-root", o.checkpoint_root, "checkpoints go to <root>/<job-id>/");
  app.add_option("--resume", o.resume, "auto | none | a step directory");
  app.add_option("--nproc", nproc, "launch this many local ranks (torchrun --standalone)");
  CLI11_PARSE(app, argc, argv);

  if (nproc > 0 && std::getenv("RANK") == nullptr) {
    std::vector<std::string> args = {bagel::dist::SelfExecutable()};
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--nproc") {
        ++i;
        continue;
      }
      if (a.rfind("--nproc=", 0) == 0) continue;
      args.push_back(a);
    }
    return bagel::dist::LaunchLocalRanks(nproc, args);
  }
  bagel::config::JobSpecParse parsed = bagel::config::ReadJobSpecFile(spec_path);
  if (!parsed.ok())
    return Fail(ExitCode::kInvalidSpec, spec_path + ": invalid job spec:\n" + parsed.ErrorText());
  bagel::KeepFreedHostMemoryInProcess();
  try {
    return ExitStatus(bagel::train::RunTrainJob(parsed.spec, o));
  } catch (const bagel::dist::CollectiveError& e) {
    return Fail(ExitCode::kCollectiveFailed, e.what());
  } catch (const c10::DistBackendError& e) {
    return Fail(ExitCode::kCollectiveFailed, e.what_without_backtrace());
  } catch (const c10::Error& e) {
    return Fail(ExitCode::kFailed, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Fail(ExitCode::kFailed, e.what());
  }
}
