// bagel-train: trains BAGEL. This build trains in one process on one device (Stage 1, on
// generated data); the sharded multi-rank trainer of SERVICE.md replaces this loop's internals.
//
//   bagel-train [--init-from DIR | --preset tiny] [--stage 1] [--steps N] [--lr X]
//               [--warmup N] [--schedule constant|cosine] [--max-grad-norm X]
//               [--expected-tokens N] [--seed N] [--log-every N] [--threads N] [--out DIR]
#include <ATen/Parallel.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "model/runtime/host_allocator.h"
#include "model/tools/tool_main.h"
#include "worker/trainer/local_training.h"

int main(int argc, char** argv) {
  CLI::App app{"Train BAGEL"};
  bagel::train::LocalTrainingOptions o;
  std::string schedule = "constant";
  int threads = 2;
  app.add_option("--init-from", o.init_from, "HF-layout checkpoint to start from");
  app.add_option("--preset", o.preset, "random init shape when no --init-from (tiny, small)");
  app.add_option("--stage", o.stage, "training stage");
  app.add_option("--steps", o.steps, "optimizer steps");
  app.add_option("--lr", o.schedule.lr, "peak learning rate");
  app.add_option("--warmup", o.schedule.warmup_steps, "linear warmup steps");
  app.add_option("--schedule", schedule, "constant or cosine");
  app.add_option("--max-grad-norm", o.max_grad_norm, "gradient clipping norm");
  app.add_option("--expected-tokens", o.expected_num_tokens, "tokens per packed sequence");
  app.add_option("--seed", o.seed, "initialisation and data seed");
  app.add_option("--log-every", o.log_every, "progress line every N steps");
  app.add_option("--threads", threads, "intra-op CPU threads");
  app.add_option("--out", o.out, "export the final weights here (HF layout)");
  CLI11_PARSE(app, argc, argv);
  return bagel::RunToolMain("bagel-train", [&] {
    bagel::KeepFreedHostMemoryInProcess();
    at::set_num_threads(threads);
    o.schedule.kind = bagel::train::LrSchedule::ParseKind(schedule);
    o.schedule.total_steps = o.steps;
    const bool tty = isatty(fileno(stdout));
    auto records = bagel::train::RunLocalTraining(o, [&](const bagel::train::StepRecord& r) {
      const bool log = r.step % o.log_every == 0 || r.step == 1 || r.step == o.steps;
      if (!log && !tty) return;
      if (!log) {
        const int width = 30, done = static_cast<int>(width * r.step / o.steps);
        std::printf("\r[%.*s%*s] step %lld/%lld ce %.4f", done,
                    "==============================", width - done, "",
                    static_cast<long long>(r.step), static_cast<long long>(o.steps), r.ce);
        std::fflush(stdout);
        return;
      }
      std::printf(
          "%sstep=%lld/%lld ce=%.4f mse=%.4f lr=%.3g grad_norm=%.3f tokens=%lld "
          "tokens_per_s=%.0f\n",
          tty ? "\r" : "", static_cast<long long>(r.step), static_cast<long long>(o.steps), r.ce,
          r.mse, r.lr, r.grad_norm, static_cast<long long>(r.tokens), r.tokens_per_s);
      std::fflush(stdout);
    });
    if (!o.out.empty()) std::printf("exported final weights to %s\n", o.out.c_str());
  });
}
