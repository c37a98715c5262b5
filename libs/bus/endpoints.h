// Paths of the bus endpoints under the runtime dir, and what binding one involves: the 107-byte
// sun_path limit, stale files (libzmq 4.3.4 leaves them behind, BUILD-NOTES 5) and mode 0660.
#pragma once

#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::bus {

// Largest usable path in sockaddr_un.sun_path (108 bytes with the terminating NUL).
inline constexpr size_t MAX_SOCKET_PATH = 107;

std::string eventEndpointPath(std::string_view runtimeDir, std::string_view service);    // <svc>/ev
std::string requestEndpointPath(std::string_view runtimeDir, std::string_view service);  // <svc>/rpc
std::string pipeEndpointPath(std::string_view runtimeDir, std::string_view to,
                             std::string_view from);  // <to>/p.<from>

// Fails with a message naming the path and its length when it does not fit sun_path.
Result<void> checkSocketPath(std::string_view path);

// Before binding: checks the length, creates nothing, and unlinks a stale socket file (refusing
// to unlink anything that is not a socket, or a socket a running process still listens on).
Result<void> prepareSocketPath(std::string_view path);

// After binding: chmod 0660 so group members can connect regardless of the umask.
Result<void> publishSocketPath(std::string_view path);

}  // namespace tnet::bus
