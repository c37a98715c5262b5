#include "supervisor/filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "supervisor/service_table.h"

namespace tnet::supervisor {
namespace {

std::string errnoText() {
  return std::strerror(errno);
}

Result<void> mkdirParents(const std::string& path) {
  std::filesystem::path p(path);
  std::filesystem::path cur;
  for (auto it = p.begin(); it != p.end(); ++it) {
    cur /= *it;
    if (std::next(it) == p.end()) break;  // the last component is made by the caller
    if (cur == "/") continue;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error::failed("cannot create " + cur.string() + ": " + errnoText());
    }
  }
  return {};
}

uid_t chownUid;
gid_t chownGid;
int chownEntry(const char* path, const struct stat*, int, struct FTW*) {
  // lchown: never follow a symlink a previous owner left inside.
  if (lchown(path, chownUid, chownGid) != 0) return 0;  // best effort: keep walking
  return 0;
}

Result<void> fillSockaddr(const std::string& path, sockaddr_un& addr) {
  if (path.size() >= sizeof(addr.sun_path)) {
    return Error::invalid("socket path too long (" + std::to_string(path.size()) + " > " +
                          std::to_string(sizeof(addr.sun_path) - 1) + " bytes): " + path);
  }
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return {};
}

}  // namespace

Result<void> ensureDirectory(const std::string& path, mode_t mode, std::optional<Owner> owner) {
  TNET_TRY_VOID(mkdirParents(path));
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Error::failed("cannot create " + path + ": " + errnoText());
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Error::failed("cannot open directory " + path + ": " + errnoText());
  struct stat st {};
  fstat(fd, &st);
  bool root = geteuid() == 0;
  Owner want = owner.value_or(Owner{geteuid(), root ? st.st_gid : getegid()});
  if (st.st_uid != want.uid || (root && owner && st.st_gid != want.gid)) {
    if (!root) {
      close(fd);
      return Error::denied(path + " belongs to uid " + std::to_string(st.st_uid) + ", not to us");
    }
    if (fchown(fd, want.uid, want.gid) != 0) {
      close(fd);
      return Error::failed("cannot chown " + path + ": " + errnoText());
    }
    // A directory that changes hands takes its contents along (e.g. first run without root).
    // Only for directories with a named owner (per-service dirs): a root-run suite pointed at
    // someone's directory must not take over everything in it.
    if (owner) {
      chownUid = want.uid;
      chownGid = want.gid;
      nftw(path.c_str(), chownEntry, 16, FTW_PHYS);
    }
  }
  if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) {
    close(fd);
    return Error::failed("cannot chmod " + path + ": " + errnoText());
  }
  close(fd);
  return {};
}

Result<void> checkWritable(const std::string& dir) {
  std::string probe = dir + "/.tailnetd-write-test-XXXXXX";
  int fd = mkstemp(probe.data());
  if (fd < 0) return Error::denied("state dir " + dir + " is not writable: " + errnoText());
  close(fd);
  unlink(probe.c_str());
  return {};
}

Result<std::string> realPath(const std::string& path) {
  char* r = realpath(path.c_str(), nullptr);
  if (r == nullptr) return Error::failed("cannot resolve " + path + ": " + errnoText());
  std::string out(r);
  free(r);
  return out;
}

Result<RuntimeLock> RuntimeLock::acquire(const std::string& runtimeDir) {
  std::string path = runtimeDir + "/lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Error::failed("cannot open " + path + ": " + errnoText());
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (err == EWOULDBLOCK) {
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return Error::failed("another tailnetd" + (holder.empty() ? "" : " (pid " + holder + ")") +
                           " is using runtime dir " + runtimeDir);
    }
    return Error::failed("cannot lock " + path + ": " + std::strerror(err));
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    close(fd);
    return Error::failed("cannot write " + path + ": " + errnoText());
  }
  return RuntimeLock(fd);
}

RuntimeLock::~RuntimeLock() {
  if (fd_ >= 0) close(fd_);
}

Result<void> checkRuntimeDirLength(const std::string& runtimeDir) {
  size_t longest = 0;
  for (const auto& to : serviceTable()) {
    for (const auto& from : serviceTable()) {
      longest = std::max(longest, runtimeDir.size() + 1 + to.name.size() + 3 + from.name.size());
    }
  }
  if (longest > 107) {
    return Error::invalid("runtime dir " + runtimeDir + " is too long for Unix socket paths (" +
                          std::to_string(longest) + " > 107 bytes); pick a shorter --runtime-dir");
  }
  return {};
}

Result<int> bindLocalApiSocket(const std::string& path) {
  sockaddr_un addr;
  TNET_TRY_VOID(fillSockaddr(path, addr));
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error::failed(path + " exists and is not a socket");
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return Error::failed(std::string("socket: ") + errnoText());
    int rc = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    int err = errno;
    close(probe);
    if (rc == 0) return Error::failed("another tailnetd is running on " + path);
    if (err != ECONNREFUSED) return Error::failed("cannot check " + path + ": " + std::strerror(err));
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Error::failed("cannot remove stale socket " + path + ": " + errnoText());
    }
  }
  std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty() && access(parent.c_str(), F_OK) != 0) {
    TNET_TRY_VOID(ensureDirectory(parent, 0755, std::nullopt));
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::failed(std::string("socket: ") + errnoText());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return Error::failed("cannot bind " + path + ": " + std::strerror(err));
  }
  // Every local user may connect; apid decides per request who may write (SO_PEERCRED).
  if (listen(fd, 128) != 0 || chmod(path.c_str(), 0666) != 0) {
    int err = errno;
    close(fd);
    unlink(path.c_str());
    return Error::failed("cannot listen on " + path + ": " + std::strerror(err));
  }
  return fd;
}

Result<int> bindNotifySocket(const std::string& path) {
  sockaddr_un addr;
  TNET_TRY_VOID(fillSockaddr(path, addr));
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error::failed(std::string("socket: ") + errnoText());
  int one = 1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0 || chmod(path.c_str(), 0666) != 0) {
    int err = errno;
    close(fd);
    return Error::failed("cannot bind notify socket " + path + ": " + std::strerror(err));
  }
  return fd;
}

void removeStaleSockets(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    std::string p = dir + "/" + e->d_name;
    struct stat st {};
    if (lstat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(p.c_str());
  }
  closedir(d);
}

}  // namespace tnet::supervisor
