#include "config/service_config.h"

#include "config/yaml_duplicate_keys.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bagel::config {
namespace {

namespace fs = std::filesystem;

class Parser {
 public:
  explicit Parser(std::string base_dir) : base_dir_(std::move(base_dir)) {}

  void Error(const std::string& path, const std::string& value, const std::string& expected) {
    errors_.push_back(absl::StrCat(path, ": got ", value, ", expected ", expected));
  }
  const std::vector<std::string>& errors() const { return errors_; }

  static std::string Describe(const YAML::Node& n) {
    if (!n.IsDefined() || n.IsNull()) return "null";
    if (n.IsMap()) return "<mapping>";
    if (n.IsSequence()) return "<list>";
    std::string s = n.Scalar();
    return s.size() > 100 ? s.substr(0, 100) + "..." : s;
  }

  bool Keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) {
    if (!n.IsMap()) {
      Error(path.empty() ? "<config>" : path, Describe(n), "a mapping");
      return false;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "<key>";
      if (!allowed.count(key)) {
        Error(path.empty() ? key : path + "." + key, "a value",
              "no such field (known: " + absl::StrJoin(allowed, ", ") + ")");
      }
    }
    return true;
  }

  void Str(const YAML::Node& n, const char* key, const std::string& path, std::string& out) {
    if (!n[key].IsDefined() || n[key].IsNull()) return;
    if (!n[key].IsScalar()) return Error(path + key, Describe(n[key]), "a string");
    out = n[key].Scalar();
  }

  void File(const YAML::Node& n, const char* key, const std::string& path, std::string& out) {
    Str(n, key, path, out);
    if (!out.empty() && !base_dir_.empty() && fs::path(out).is_relative()) {
      out = (fs::path(base_dir_) / out).lexically_normal().string();
    }
  }

  // A secret: `key` inline or `key_file` holding it; the value is never echoed in errors.
  void Secret(const YAML::Node& n, const std::string& key, const std::string& path,
              std::string& out) {
    std::string inline_value, file;
    Str(n, key.c_str(), path, inline_value);
    File(n, (key + "_file").c_str(), path, file);
    if (!inline_value.empty() && !file.empty()) {
      Error(path + key, "<secret>", "either " + key + " or " + key + "_file, not both");
    }
    if (!file.empty()) {
      std::ifstream in(file, std::ios::binary);
      if (!in) return Error(path + key + "_file", file, "a readable file");
      std::stringstream ss;
      ss << in.rdbuf();
      inline_value = ss.str();
      while (!inline_value.empty() && (inline_value.back() == '\n' || inline_value.back() == '\r' ||
                                       inline_value.back() == ' ')) {
        inline_value.pop_back();
      }
    }
    if (!inline_value.empty() && inline_value.size() < 16) {
      Error(path + key, "<secret of " + std::to_string(inline_value.size()) + " chars>",
            "a token of at least 16 characters");
    }
    out = inline_value;
  }

  void Int(const YAML::Node& n, const char* key, const std::string& path, int64_t lo, int64_t hi,
           int64_t& out) {
    if (!n[key].IsDefined() || n[key].IsNull()) return;
    int64_t v = 0;
    try {
      v = n[key].as<int64_t>();
    } catch (const YAML::Exception&) {
      return Error(path + key, Describe(n[key]), "an integer");
    }
    if (v < lo || v > hi) {
      return Error(path + key, Describe(n[key]),
                   absl::StrCat("an integer in [", lo, ", ", hi, "]"));
    }
    out = v;
  }

  void Bool(const YAML::Node& n, const char* key, const std::string& path, bool& out) {
    if (!n[key].IsDefined() || n[key].IsNull()) return;
    const std::string s = n[key].IsScalar() ? n[key].Scalar() : "";
    if (s == "true") {
      out = true;
    } else if (s == "false") {
      out = false;
    } else {
      Error(path + key, Describe(n[key]), "true or false");
    }
  }

  std::string AbsoluteDir(const std::string& field, const std::string& p) {
    if (p.empty()) return p;
    fs::path path(p);
    if (path.is_relative()) {
      if (base_dir_.empty()) {
        Error(field, p, "an absolute path");
        return p;
      }
      path = fs::path(base_dir_) / path;
    }
    std::string s = path.lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  }

 private:
  std::string base_dir_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::StatusOr<ServiceConfig> ParseServiceConfig(const std::string& yaml_text,
                                                 const std::string& base_dir) {
  if (yaml_text.size() > (1 << 20)) return absl::InvalidArgumentError("config larger than 1 MiB");
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("service config: not YAML: ", e.what()));
  }
  ServiceConfig c;
  Parser p(base_dir);
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  for (const DuplicateKey& d : FindDuplicateKeys(root)) {
    p.Error(
        d.path,
        absl::StrCat("the key written twice (lines ", d.first_line, " and ", d.second_line, ")"),
        "each key once");
  }
  if (p.Keys(root, "",
             {"listen", "port_file", "database", "checkpoint_root", "data_roots", "tls", "auth",
              "leases", "scheduler", "stop", "limits", "drain_ms", "metrics"})) {
    p.Str(root, "listen", "", c.listen);
    p.File(root, "port_file", "", c.port_file);
    p.File(root, "database", "", c.database);
    p.Str(root, "checkpoint_root", "", c.checkpoint_root);
    c.checkpoint_root = p.AbsoluteDir("checkpoint_root", c.checkpoint_root);
    if (c.checkpoint_root.empty()) p.Error("checkpoint_root", "null", "a directory (required)");
    if (const auto roots = root["data_roots"]; roots.IsDefined() && !roots.IsNull()) {
      if (!roots.IsSequence()) {
        p.Error("data_roots", Parser::Describe(roots), "a list of directories");
      } else {
        for (size_t i = 0; i < roots.size(); ++i) {
          const std::string field = absl::StrCat("data_roots[", i, "]");
          if (!roots[i].IsScalar() || roots[i].Scalar().empty()) {
            p.Error(field, Parser::Describe(roots[i]), "a directory");
            continue;
          }
          c.data_roots.push_back(p.AbsoluteDir(field, roots[i].Scalar()));
        }
      }
    }
    if (const auto tls = root["tls"]; tls.IsDefined() && !tls.IsNull()) {
      if (p.Keys(tls, "tls", {"cert_file", "key_file", "client_ca_file"})) {
        p.File(tls, "cert_file", "tls.", c.tls.cert_file);
        p.File(tls, "key_file", "tls.", c.tls.key_file);
        p.File(tls, "client_ca_file", "tls.", c.tls.client_ca_file);
        if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
          p.Error("tls", "<mapping>", "both cert_file and key_file");
        }
      }
    }
    if (const auto auth = root["auth"]; auth.IsDefined() && !auth.IsNull()) {
      if (p.Keys(auth, "auth", {"enabled", "users", "worker_token", "worker_token_file"})) {
        p.Bool(auth, "enabled", "auth.", c.auth.enabled);
        p.Secret(auth, "worker_token", "auth.", c.auth.worker_token);
        const auto users = auth["users"];
        if (users.IsDefined() && !users.IsNull() && !users.IsSequence()) {
          p.Error("auth.users", Parser::Describe(users), "a list of users");
        } else if (users.IsDefined() && users.IsSequence()) {
          std::set<std::string> names;
          for (size_t i = 0; i < users.size(); ++i) {
            const std::string base = absl::StrCat("auth.users[", i, "]");
            if (!p.Keys(users[i], base, {"name", "token", "token_file", "role"})) continue;
            UserCredential u;
            p.Str(users[i], "name", base + ".", u.name);
            p.Secret(users[i], "token", base + ".", u.token);
            std::string role = "user";
            p.Str(users[i], "role", base + ".", role);
            if (role == "admin") {
              u.role = Role::kAdmin;
            } else if (role != "user") {
              p.Error(base + ".role", role, "user or admin");
            }
            if (u.name.empty() || u.name.size() > 64) {
              p.Error(base + ".name", u.name, "a name of 1-64 characters");
            } else if (!names.insert(u.name).second) {
              p.Error(base + ".name", u.name, "a name not used by another user");
            }
            if (u.token.empty()) p.Error(base + ".token", "null", "a token or token_file");
            c.auth.users.push_back(std::move(u));
          }
          std::set<std::string> tokens;
          for (const auto& u : c.auth.users) {
            if (!u.token.empty() &&
                (!tokens.insert(u.token).second || u.token == c.auth.worker_token)) {
              p.Error("auth.users", "<secret>", "a different token for every user and the workers");
            }
          }
        }
        if (c.auth.enabled && c.auth.worker_token.empty()) {
          p.Error("auth.worker_token", "null", "a join token for workers (or auth.enabled: false)");
        }
      }
    } else {
      p.Error("auth", "null", "an auth section (users and worker_token, or enabled: false)");
    }
    if (const auto l = root["leases"]; l.IsDefined() && !l.IsNull()) {
      if (p.Keys(l, "leases", {"heartbeat_interval_ms", "ttl_ms"})) {
        p.Int(l, "heartbeat_interval_ms", "leases.", 50, 600000, c.heartbeat_interval_ms);
        p.Int(l, "ttl_ms", "leases.", 200, 3600000, c.lease_ttl_ms);
        if (c.lease_ttl_ms < 2 * c.heartbeat_interval_ms) {
          p.Error("leases.ttl_ms", std::to_string(c.lease_ttl_ms),
                  "at least twice leases.heartbeat_interval_ms");
        }
      }
    }
    if (const auto s = root["scheduler"]; s.IsDefined() && !s.IsNull()) {
      if (p.Keys(s, "scheduler", {"tick_ms"}))
        p.Int(s, "tick_ms", "scheduler.", 10, 60000, c.scheduler_tick_ms);
    }
    if (const auto s = root["stop"]; s.IsDefined() && !s.IsNull()) {
      if (p.Keys(s, "stop", {"cancel_grace_ms", "abort_grace_ms", "timeout_ms"})) {
        p.Int(s, "cancel_grace_ms", "stop.", 0, 3600000, c.cancel_grace_ms);
        p.Int(s, "abort_grace_ms", "stop.", 0, 3600000, c.abort_grace_ms);
        p.Int(s, "timeout_ms", "stop.", 1000, 3600000, c.stop_timeout_ms);
      }
    }
    if (const auto s = root["limits"]; s.IsDefined() && !s.IsNull()) {
      if (p.Keys(s, "limits", {"max_message_bytes", "max_active_jobs_per_user"})) {
        p.Int(s, "max_message_bytes", "limits.", 64 << 10, 64 << 20, c.max_message_bytes);
        p.Int(s, "max_active_jobs_per_user", "limits.", 1, 10000000, c.max_active_jobs_per_user);
      }
    }
    p.Int(root, "drain_ms", "", 0, 600000, c.drain_ms);
    if (const auto m = root["metrics"]; m.IsDefined() && !m.IsNull()) {
      if (p.Keys(m, "metrics", {"listen", "port_file"})) {
        p.Str(m, "listen", "metrics.", c.metrics_listen);
        p.File(m, "port_file", "metrics.", c.metrics_port_file);
        if (!c.metrics_listen.empty() && c.metrics_listen.rfind(':') == std::string::npos) {
          p.Error("metrics.listen", c.metrics_listen, "HOST:PORT (port 0 picks a free port)");
        }
      }
    }
  }
  if (!p.errors().empty()) {
    return absl::InvalidArgumentError("service config:\n" + absl::StrJoin(p.errors(), "\n"));
  }
  return c;
}

absl::StatusOr<ServiceConfig> ReadServiceConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read service config ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const auto dir = fs::absolute(fs::path(path)).parent_path().string();
  return ParseServiceConfig(ss.str(), dir);
}

}  // namespace bagel::config
