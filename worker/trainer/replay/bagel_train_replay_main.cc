// bagel-train-replay: replays a training-step reference case on W local ranks (Gloo).
//
//   bagel-train-replay --checkpoint DIR --batches DIR --train train.json --out OUT.safetensors
//                      [--shard-group-size G]
// Started without RANK in the environment it launches W ranks of itself (torchrun-style) and
// waits; each rank trains its share; rank 0 writes OUT.
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "model/tools/tool_main.h"
#include "worker/dist/local_launcher.h"
#include "worker/trainer/replay/train_replay.h"

int main(int argc, char** argv) {
  CLI::App app{"Replay recorded BAGEL training steps on W local ranks"};
  bagel::train::ReplayOptions o;
  int threads = 0;
  app.add_option("--checkpoint", o.checkpoint, "HF-layout checkpoint directory")->required();
  app.add_option("--batches", o.batches, "directory of step<s>.micro<m>.rank<r>.safetensors")
      ->required();
  app.add_option("--train", o.train_json, "train.json")->required();
  app.add_option("--out", o.out, "output safetensors")->required();
  app.add_option("--shard-group-size", o.shard_group_size, "hybrid sharding group size (0: full)");
  app.add_option("--threads", threads, "intra-op threads per rank (default: cores / ranks)");
  CLI11_PARSE(app, argc, argv);
  int status = 0;
  const int rc = bagel::RunToolMain("bagel-train-replay", [&] {
    const int world = bagel::train::ReplayWorldSize(o.train_json);
    if (world > 1 && std::getenv("RANK") == nullptr) {
      std::vector<std::string> args = {bagel::dist::SelfExecutable()};
      for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
      status = bagel::dist::LaunchLocalRanks(world, args);
      return;
    }
    const int ranks = std::getenv("WORLD_SIZE") ? std::atoi(std::getenv("WORLD_SIZE")) : 1;
    at::set_num_threads(threads > 0 ? threads : std::max(1, 2 / std::max(1, ranks)));
    bagel::train::RunReplayRank(o);
  });
  return rc != 0 ? rc : status;
}
