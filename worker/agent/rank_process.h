// One child process of the agent: a bagel-train rank. Started in its own process group (so a
// signal reaches anything it forks) with PR_SET_PDEATHSIG (it dies with the agent rather than
// outliving it). Its stdout and stderr are copied to a log file; stdout lines are also handed to
// a callback (the trainer's JSON progress lines). The exit is reported once, as the exit status,
// or 128 + signal number when a signal ended it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace bagel::agent {

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0]: the executable's path
  std::vector<std::string> env;   // the whole environment, "KEY=VALUE"
  std::string log_path;           // appended to (created with its directory)
  std::string cwd;                // empty: the agent's
};

class RankProcess {
 public:
  using LineFn = std::function<void(const std::string& line)>;
  using ExitFn = std::function<void(int code, const std::string& last_stderr_line)>;

  // Forks and execs. Must be called from a thread that outlives the child (PR_SET_PDEATHSIG
  // fires when the forking thread exits): the agent launches from its main thread. A failed exec
  // is reported through on_exit with code 127. INTERNAL when the fork itself fails.
  static absl::StatusOr<std::unique_ptr<RankProcess>> Start(const LaunchSpec& spec, LineFn on_line,
                                                            ExitFn on_exit);
  // Joins the reader thread; a live child is killed first.
  ~RankProcess();

  // Sends `sig` to the child's process group (no-op once it exited).
  void Signal(int sig);
  pid_t pid() const { return pid_; }
  bool exited() const { return exited_.load(); }

 private:
  RankProcess() = default;
  void ReadLoop(int out_fd, int err_fd, int log_fd);

  pid_t pid_ = -1;
  std::atomic<bool> exited_{false};
  LineFn on_line_;
  ExitFn on_exit_;
  std::thread reader_;
};

// A TCP port that was free a moment ago (bind to port 0, read it, close): the rendezvous port
// rank 0's agent offers, as torchrun does.
absl::StatusOr<int> PickFreeTcpPort();

}  // namespace bagel::agent
