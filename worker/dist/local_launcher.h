// Starts the ranks of one job on this machine, as `torchrun --standalone --nproc-per-node N`
// does: N copies of a command with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT. When one rank fails the others are stopped
// (SIGTERM, then SIGKILL after a grace period) so nothing hangs on a dead peer.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace bagel::dist {

// A TCP port on 127.0.0.1 that was free a moment ago (racy: prefer ListenOnFreePort).
int FreeTcpPort();

// A listening socket bound to a free port on 127.0.0.1: {fd, port}. Rank 0's TCPStore takes
// the socket over (DistEnv::master_listen_fd), so the port cannot be lost to another process.
std::pair<int, int> ListenOnFreePort();

// Runs `argv` (argv[0] a path) as `nproc` ranks and waits. Returns 0 when every rank exits 0,
// else the first failing rank's exit status (128 + signal for a signal).
int LaunchLocalRanks(int nproc, const std::vector<std::string>& argv,
                     std::chrono::seconds grace = std::chrono::seconds(10));

// The path of the running executable (/proc/self/exe).
std::string SelfExecutable();

}  // namespace bagel::dist
