#include "worker/tensorboard/event_file_name.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>

namespace bagel::tensorboard {

std::string EventFileName(int64_t unix_seconds, std::string_view hostname, int64_t pid,
                          uint64_t counter) {
  std::array<char, 32> seconds{};
  std::snprintf(seconds.data(), seconds.size(), "%010lld", static_cast<long long>(unix_seconds));
  return "events.out.tfevents." + std::string(seconds.data()) + "." + std::string(hostname) + "." +
         std::to_string(pid) + "." + std::to_string(counter);
}

std::string HostNameForEventFile() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') {
    return "localhost";
  }
  std::string name(buffer.data());
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

}  // namespace bagel::tensorboard
