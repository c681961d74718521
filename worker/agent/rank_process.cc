#include "worker/agent/rank_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace bagel::agent {
namespace {

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RankProcess>> RankProcess::Start(const LaunchSpec& spec,
                                                                LineFn on_line, ExitFn on_exit) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(spec.log_path).parent_path(), ec);
  const int log_fd = open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open log ", spec.log_path, ": ", strerror(errno)));
  }
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) _exit(127);
    execve(argv[0], argv.data(), envp.data());
    static const char kMsg[] = "bagel-worker: exec of the trainer failed\n";
    WriteAll(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so a signal right away reaches the group
  close(out[1]);
  close(err[1]);
  std::unique_ptr<RankProcess> p(new RankProcess());
  p->pid_ = pid;
  p->on_line_ = std::move(on_line);
  p->on_exit_ = std::move(on_exit);
  p->reader_ = std::thread(&RankProcess::ReadLoop, p.get(), out[0], err[0], log_fd);
  return p;
}

void RankProcess::ReadLoop(int out_fd, int err_fd, int log_fd) {
  std::string partial, last_err, err_partial;
  char buf[65536];
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  bool open_out = true, open_err = true;
  int status = 0;
  bool reaped = false;
  while (open_out || open_err) {
    fds[0].fd = open_out ? out_fd : -1;
    fds[1].fd = open_err ? err_fd : -1;
    const int n = poll(fds, 2, 200);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r <= 0) {
        (i == 0 ? open_out : open_err) = false;
        continue;
      }
      WriteAll(log_fd, buf, static_cast<size_t>(r));
      std::string& acc = i == 0 ? partial : err_partial;
      acc.append(buf, static_cast<size_t>(r));
      size_t pos;
      while ((pos = acc.find('\n')) != std::string::npos) {
        std::string line = acc.substr(0, pos);
        acc.erase(0, pos + 1);
        if (i == 0) {
          if (on_line_) on_line_(line);
        } else if (!line.empty()) {
          last_err = line.substr(0, 1000);
        }
      }
      if (acc.size() > (1 << 20)) acc.clear();  // a line that never ends is not progress
    }
    // A grandchild may hold the pipes open after the rank died: stop at the rank's exit.
    if (!reaped && waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped = true;
      // Drain what is already buffered, then stop.
      for (int fd : {out_fd, err_fd}) {
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
      }
      for (int i = 0; i < 2; ++i) {
        ssize_t r;
        while ((r = read(i == 0 ? out_fd : err_fd, buf, sizeof(buf))) > 0) {
          WriteAll(log_fd, buf, static_cast<size_t>(r));
          std::string& acc = i == 0 ? partial : err_partial;
          acc.append(buf, static_cast<size_t>(r));
          size_t pos;
          while ((pos = acc.find('\n')) != std::string::npos) {
            std::string line = acc.substr(0, pos);
            acc.erase(0, pos + 1);
            if (i == 0 && on_line_) on_line_(line);
            if (i == 1 && !line.empty()) last_err = line.substr(0, 1000);
          }
        }
      }
      break;
    }
  }
  if (!partial.empty() && on_line_) on_line_(partial);
  if (!reaped) {
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  close(out_fd);
  close(err_fd);
  close(log_fd);
  const int code = WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : 1;
  exited_ = true;
  if (on_exit_) on_exit_(code, last_err);
}

void RankProcess::Signal(int sig) {
  if (!exited_.load() && pid_ > 0) kill(-pid_, sig);
}

RankProcess::~RankProcess() {
  if (!exited_.load()) Signal(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

absl::StatusOr<int> PickFreeTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", strerror(errno)));
  }
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

}  // namespace bagel::agent
