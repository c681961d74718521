// bagel-plan: the memory a training job will need on each rank, before it runs.
//
//   bagel-plan --spec SPEC.yaml --world-size N [--gpu-memory-gib G]
//
// Builds the spec's model on the meta device (nothing allocated; presets or HF-layout config
// files, the real BAGEL-7B-MoT ones included) and prints one JSON object on stdout: per rank
// the bytes of master shards, gradients, optimizer state, EMA, gathered units, activations,
// their sum on the training device and the host's peak, the trainable and total parameter
// counts, and whether device_bytes fits in G GiB (default 80). docs/MEMORY.md explains each.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "config/job_spec.h"
#include "contract/exit_code.h"
#include "worker/plan/memory_plan.h"

int main(int argc, char** argv) {
  using bagel::contract::ExitCode;
  using bagel::contract::ExitStatus;
  CLI::App app{"Plan the memory of a BAGEL training job (docs/MEMORY.md)"};
  std::string spec_path;
  bagel::plan::PlanOptions options;
  app.add_option("--spec", spec_path, "job spec (YAML, config/JOB_SPEC.md)")->required();
  app.add_option("--world-size", options.world_size, "ranks of the job")->required();
  app.add_option("--gpu-memory-gib", options.gpu_memory_gib, "memory of one GPU (GiB)");
  app.add_option("--runtime-bytes", options.runtime_bytes,
                 "CPU ranks: the process before the model (default: measured here)");
  CLI11_PARSE(app, argc, argv);
  const auto parsed = bagel::config::ReadJobSpecFile(spec_path);
  if (!parsed.ok()) {
    std::cerr << "bagel-plan: invalid spec " << spec_path << ":\n" << parsed.ErrorText() << "\n";
    return ExitStatus(ExitCode::kInvalidSpec);
  }
  try {
    std::cout << bagel::plan::PlanMemory(parsed.spec, options).ToJson().dump(2) << std::endl;
  } catch (const c10::Error& e) {
    std::cerr << "bagel-plan: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  return 0;
}
