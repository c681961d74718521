#include "worker/dist/local_launcher.h"

#include <arpa/inet.h>
#include <c10/util/Exception.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace bagel::dist {
namespace {

// Ranks of the running launch, for forwarding SIGTERM / SIGINT (async-signal-safe: plain
// array, kill()).
constexpr int kMaxRanks = 1024;
volatile pid_t g_children[kMaxRanks];
volatile int g_num_children = 0;

void ForwardSignal(int sig) {
  for (int i = 0; i < g_num_children; ++i) {
    if (g_children[i] > 0) ::kill(g_children[i], sig);
  }
}

}  // namespace

int FreeTcpPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  TORCH_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind() failed");
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::pair<int, int> ListenOnFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "socket() failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  TORCH_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind() failed");
  TORCH_CHECK(::listen(fd, 128) == 0, "listen() failed");
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return {fd, ntohs(addr.sin_port)};
}

std::string SelfExecutable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  TORCH_CHECK(n > 0, "cannot resolve /proc/self/exe");
  return std::string(buf, n);
}

int LaunchLocalRanks(int nproc, const std::vector<std::string>& argv, std::chrono::seconds grace) {
  TORCH_CHECK(nproc >= 1 && nproc <= kMaxRanks && !argv.empty(),
              "LaunchLocalRanks needs 1..1024 ranks and a command");
  const auto [listen_fd, listen_port] = ListenOnFreePort();
  const std::string port = std::to_string(listen_port);
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    TORCH_CHECK(pid >= 0, "fork() failed");
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      if (r == 0) {
        ::setenv("BAGEL_MASTER_LISTEN_FD", std::to_string(listen_fd).c_str(), 1);
      } else {
        ::close(listen_fd);
        ::unsetenv("BAGEL_MASTER_LISTEN_FD");
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::_Exit(127);
    }
    pids.push_back(pid);
    g_children[g_num_children] = pid;
    g_num_children = g_num_children + 1;
  }
  ::close(listen_fd);  // rank 0 holds it now
  // Like torchrun: a stop request for the launcher goes to every rank, which checkpoint and exit.
  struct sigaction forward {};
  forward.sa_handler = ForwardSignal;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &forward, nullptr);
  ::sigaction(SIGINT, &forward, nullptr);
  int result = 0;
  size_t remaining = pids.size();
  bool stopping = false;
  auto stop_deadline = std::chrono::steady_clock::now();
  while (remaining > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, stopping ? WNOHANG : 0);
    if (pid > 0) {
      for (auto& p : pids) {
        if (p == pid) p = -1;
      }
      for (int i = 0; i < g_num_children; ++i) {
        if (g_children[i] == pid) g_children[i] = -1;
      }
      --remaining;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && result == 0) {
        result = code;
        stopping = true;
        stop_deadline = std::chrono::steady_clock::now() + grace;
        for (pid_t p : pids) {
          if (p > 0) ::kill(p, SIGTERM);
        }
      }
      continue;
    }
    if (stopping) {
      if (std::chrono::steady_clock::now() > stop_deadline) {
        for (pid_t p : pids) {
          if (p > 0) ::kill(p, SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  g_num_children = 0;
  return result;
}

}  // namespace bagel::dist
