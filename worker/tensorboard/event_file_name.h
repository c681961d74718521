// The name of an event file: events.out.tfevents.<unix seconds>.<hostname>.<pid>.<counter>.
// TensorBoard takes any file whose name holds "tfevents" as one and reads a run's files in name
// order, so the seconds are zero-padded to 10 digits (as TensorFlow's writer does) to keep that
// order the order of creation; pid and counter keep writers of one host and second apart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bagel::tensorboard {

std::string EventFileName(int64_t unix_seconds, std::string_view hostname, int64_t pid,
                          uint64_t counter);

// This machine's host name ("localhost" when it has none); '/' would make the name a path and is
// replaced by '_'.
std::string HostNameForEventFile();

}  // namespace bagel::tensorboard
