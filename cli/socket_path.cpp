#include "cli/socket_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace tnet::cli {
namespace {

std::optional<std::string> nonEmpty(const std::optional<std::string>& v) {
  if (v && !v->empty()) return v;
  return std::nullopt;
}

std::optional<std::string> envVar(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string joinPath(const std::string& dir, const std::string& leaf) {
  if (!dir.empty() && dir.back() == '/') return dir + leaf;
  return dir + "/" + leaf;
}

}  // namespace

std::vector<std::string> socketCandidates(const SocketLookupInputs& in) {
  if (auto s = nonEmpty(in.socketFlag)) return {*s};
  if (auto s = nonEmpty(in.envSocket)) return {*s};
  if (auto d = nonEmpty(in.envStateDir)) return {joinPath(*d, SOCKET_NAME)};

  std::vector<std::string> out;
  // Root uses the system service's socket; a user tries it first when a system suite runs,
  // as Go's CLI tries the system socket.
  if (in.isRoot) return {SYSTEM_SOCKET_PATH};
  if (in.exists && in.exists(SYSTEM_SOCKET_PATH)) out.push_back(SYSTEM_SOCKET_PATH);
  if (auto x = nonEmpty(in.xdgStateHome)) {
    out.push_back(joinPath(joinPath(*x, "tailnetd"), SOCKET_NAME));
  } else if (auto h = nonEmpty(in.home)) {
    out.push_back(joinPath(joinPath(*h, ".local/state/tailnetd"), SOCKET_NAME));
  } else if (out.empty()) {
    // Without HOME there is no user state dir; the system path is the only sensible guess.
    out.push_back(SYSTEM_SOCKET_PATH);
  }
  return out;
}

SocketLookupInputs socketLookupFromEnvironment(std::optional<std::string> socketFlag) {
  SocketLookupInputs in;
  in.socketFlag = std::move(socketFlag);
  in.envSocket = envVar("TAILNETD_SOCKET");
  in.envStateDir = envVar("TAILNETD_STATE_DIR");
  in.xdgStateHome = envVar("XDG_STATE_HOME");
  in.home = envVar("HOME");
  in.isRoot = geteuid() == 0;
  in.exists = [](const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
  };
  return in;
}

}  // namespace tnet::cli
