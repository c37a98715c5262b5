#include "libs/bus/endpoints.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tnet::bus {

namespace {

std::string join(std::string_view dir, std::string_view service, std::string_view leaf) {
  std::string out(dir);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  out += '/';
  out += service;
  out += '/';
  out += leaf;
  return out;
}

// Whether something is listening on the unix socket at `path` (stream or seqpacket).
bool socketIsLive(const std::string& path) {
  for (int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    close(fd);
    if (rc == 0) return true;
  }
  return false;
}

}  // namespace

std::string eventEndpointPath(std::string_view runtimeDir, std::string_view service) {
  return join(runtimeDir, service, "ev");
}

std::string requestEndpointPath(std::string_view runtimeDir, std::string_view service) {
  return join(runtimeDir, service, "rpc");
}

std::string pipeEndpointPath(std::string_view runtimeDir, std::string_view to, std::string_view from) {
  return join(runtimeDir, to, "p." + std::string(from));
}

Result<void> checkSocketPath(std::string_view path) {
  if (path.size() > MAX_SOCKET_PATH) {
    return Error::invalid("socket path " + std::string(path) + " is " + std::to_string(path.size()) +
                          " bytes; unix sockets allow at most " + std::to_string(MAX_SOCKET_PATH) +
                          ": use a shorter --runtime-dir");
  }
  if (path.empty() || path.front() != '/') {
    return Error::invalid("socket path '" + std::string(path) + "' must be absolute");
  }
  return {};
}

Result<void> prepareSocketPath(std::string_view path) {
  TNET_TRY_VOID(checkSocketPath(path));
  std::string p(path);
  struct stat st {};
  if (lstat(p.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Error::failed(p + " exists and is not a socket; refusing to replace it");
    }
    // libzmq 4.3.4 leaves the file of a closed ipc socket behind (BUILD-NOTES 5): a file nobody
    // listens on is a previous run's. One somebody answers on belongs to a running instance.
    if (socketIsLive(p)) {
      return Error::failed(p + " is in use: another instance of this service is running");
    }
    if (unlink(p.c_str()) != 0 && errno != ENOENT) {
      return Error::failed("unlink stale " + p + ": " + std::strerror(errno));
    }
  } else if (errno != ENOENT) {
    return Error::failed("stat " + p + ": " + std::strerror(errno));
  }
  return {};
}

Result<void> publishSocketPath(std::string_view path) {
  std::string p(path);
  if (chmod(p.c_str(), 0660) != 0) {
    return Error::failed("chmod 0660 " + p + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace tnet::bus
