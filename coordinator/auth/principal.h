// Who is calling: a user (role user or admin) or a worker agent (join token).
#pragma once

#include <string>

namespace bagel::coord {

struct Principal {
  enum class Kind { kUser, kAdmin, kWorker };
  std::string name;
  Kind kind = Kind::kUser;

  bool is_admin() const { return kind == Kind::kAdmin; }
  bool is_worker() const { return kind == Kind::kWorker; }
  // A user may act on a job it owns; an admin on any.
  bool CanActOn(const std::string& owner) const {
    return is_admin() || (!is_worker() && owner == name);
  }
};

}  // namespace bagel::coord
