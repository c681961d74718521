// Where this rank sits: the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Without them: one process, rank 0 of 1.
#pragma once

#include <string>

namespace bagel::dist {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // required (non-zero) when world_size > 1
  // Rank 0 only: an already-bound listening socket on master_port for the TCPStore to take over
  // (BAGEL_MASTER_LISTEN_FD), so no other process can grab the port between choosing and binding.
  int master_listen_fd = -1;

  // Reads the environment; throws c10::Error naming a malformed or inconsistent variable.
  static DistEnv FromEnvironment();
};

}  // namespace bagel::dist
