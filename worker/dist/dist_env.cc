#include "worker/dist/dist_env.h"

#include <c10/util/Exception.h>

#include <charconv>
#include <cstdlib>

namespace bagel::dist {
namespace {

int IntVar(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  int out = 0;
  const char* end = v + std::char_traits<char>::length(v);
  auto [ptr, ec] = std::from_chars(v, end, out);
  TORCH_CHECK(ec == std::errc() && ptr == end, "environment variable ", name, "='", v,
              "' is not an integer");
  return out;
}

}  // namespace

DistEnv DistEnv::FromEnvironment() {
  DistEnv e;
  e.world_size = IntVar("WORLD_SIZE", 1);
  e.rank = IntVar("RANK", 0);
  e.local_rank = IntVar("LOCAL_RANK", e.rank);
  e.local_world_size = IntVar("LOCAL_WORLD_SIZE", e.world_size);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) e.master_addr = addr;
  e.master_port = IntVar("MASTER_PORT", 0);
  e.master_listen_fd = e.rank == 0 ? IntVar("BAGEL_MASTER_LISTEN_FD", -1) : -1;
  TORCH_CHECK(e.world_size >= 1, "WORLD_SIZE must be at least 1, got ", e.world_size);
  TORCH_CHECK(e.rank >= 0 && e.rank < e.world_size, "RANK ", e.rank,
              " is not in [0, WORLD_SIZE=", e.world_size, ")");
  TORCH_CHECK(e.local_rank >= 0 && e.local_rank < e.local_world_size, "LOCAL_RANK ", e.local_rank,
              " is not in [0, LOCAL_WORLD_SIZE=", e.local_world_size, ")");
  TORCH_CHECK(e.world_size == 1 || (e.master_port > 0 && e.master_port < 65536),
              "MASTER_PORT must be a port number when WORLD_SIZE > 1, got ", e.master_port);
  return e;
}

}  // namespace bagel::dist
