// Starting a service process with fewer rights than its parent: the one place that forks,
// enters namespaces, drops identity and capabilities, closes inherited descriptors and execs.
// The supervisor uses it for every service; tests use it to prove each step took effect.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::sandbox {

// The unprivileged identity a service runs as (root only): one uid, one primary group, no
// supplementary groups.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
};

enum class NetworkIsolation {
  SHARED,        // stay in the parent's network namespace
  PRIVATE,       // new network namespace (needs CAP_SYS_ADMIN: root)
  PRIVATE_USER,  // new user + network namespace mapping only our own uid/gid (unprivileged)
};

struct SpawnSpec {
  int executableFd = -1;  // from openExecutable(); started with execveat(AT_EMPTY_PATH)
  std::vector<std::string> argv;
  std::vector<std::string> env;  // complete environment, "NAME=value"
  // passFds[i] becomes fd 3 + i in the child; every other descriptor above 2 is closed.
  std::vector<int> passFds;
  // Appends LISTEN_PID=<child pid> to env (sd_listen_fds checks it against getpid()).
  bool setListenPid = false;
  std::optional<Identity> identity;  // switch to it (requires root); nullopt keeps ours
  NetworkIsolation network = NetworkIsolation::SHARED;
  // The child gets SIGKILL when the spawning process dies, so a killed supervisor leaks nothing.
  bool dieWithParent = true;
};

// Opens path with O_PATH for a later execveat, so the binary may sit in a directory the
// service's user cannot search. Fails with a clear message when it is missing or not executable.
Result<int> openExecutable(const std::string& path);

// Forks and execs per spec. Returns once the exec succeeded (the child's error, if any step
// failed, is returned as the message: "setresuid: Operation not permitted").
Result<pid_t> spawnSandboxed(const SpawnSpec& spec);

// Whether this kernel lets an unprivileged process create a user + network namespace.
bool userNetworkNamespacesAvailable();

}  // namespace tnet::sandbox
