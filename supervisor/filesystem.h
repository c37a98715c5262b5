// The files the supervisor owns: state and runtime directories with their owners and modes,
// the runtime-dir lock, the LocalAPI listening socket and the readiness (NOTIFY_SOCKET) socket.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "libs/base/result.h"

namespace tnet::supervisor {

struct Owner {
  uid_t uid;
  gid_t gid;
};

// mkdir -p for the parents (0755), then the directory itself with `mode`. The directory must
// not be a symlink and must belong to `owner` (or to us when owner is nullopt); as root it is
// chowned to owner. A wrong mode is corrected. Files inside a directory whose owner changes are
// chowned too (a state dir first used without root).
Result<void> ensureDirectory(const std::string& path, mode_t mode, std::optional<Owner> owner);

// Whether we can create files in dir (a real check: creates and removes a temporary file).
Result<void> checkWritable(const std::string& dir);

// Real path of an existing path.
Result<std::string> realPath(const std::string& path);

// An exclusive flock on <runtime>/lock, held for the life of the object (the descriptor is
// close-on-exec, so services never hold it). Fails with a line naming the holder's pid.
class RuntimeLock {
 public:
  static Result<RuntimeLock> acquire(const std::string& runtimeDir);
  RuntimeLock(RuntimeLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RuntimeLock& operator=(RuntimeLock&&) = delete;
  ~RuntimeLock();

 private:
  explicit RuntimeLock(int fd) : fd_(fd) {}
  int fd_;
};

// The longest bus endpoint path a runtime dir will hold must fit sun_path (107 bytes).
Result<void> checkRuntimeDirLength(const std::string& runtimeDir);

// Binds the LocalAPI socket: connect first (success → "another tailnetd is running"), unlink
// a stale socket, bind, listen, chmod 0666. Returns the listening descriptor (close-on-exec).
Result<int> bindLocalApiSocket(const std::string& path);

// Binds the datagram socket services send READY=1 to, mode 0666, with SO_PASSCRED so every
// message carries its sender's pid. Non-blocking, close-on-exec.
Result<int> bindNotifySocket(const std::string& path);

// Removes stale Unix socket files (only sockets) directly inside dir; we hold the lock, so no
// live suite owns them.
void removeStaleSockets(const std::string& dir);

}  // namespace tnet::supervisor
