// Where tnet looks for the LocalAPI socket (ARCHITECTURE.md §Files, "LocalAPI socket path").
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tnet::cli {

// Everything the lookup depends on, so it can be tested without touching the environment.
struct SocketLookupInputs {
  std::optional<std::string> socketFlag;   // --socket
  std::optional<std::string> envSocket;    // TAILNETD_SOCKET
  std::optional<std::string> envStateDir;  // TAILNETD_STATE_DIR
  std::optional<std::string> xdgStateHome;
  std::optional<std::string> home;
  bool isRoot = false;
  // Whether a path exists (any file type); the system socket is only tried when it does.
  std::function<bool(const std::string&)> exists;
};

inline constexpr const char* SYSTEM_SOCKET_PATH = "/run/tailnetd/tailnetd.sock";
inline constexpr const char* SOCKET_NAME = "tailnetd.sock";

// The paths to try, in order. An explicit choice (flag, env, state dir) yields exactly one path.
// Otherwise: the system socket when it exists (or always as root), then the per-user state dir.
// Empty environment values count as unset, as the supervisor treats them.
std::vector<std::string> socketCandidates(const SocketLookupInputs& in);

// The inputs from this process's environment, uid and file system.
SocketLookupInputs socketLookupFromEnvironment(std::optional<std::string> socketFlag);

}  // namespace tnet::cli
