#include "services/controld/app/machine_key.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libs/base/fd_read.h"

namespace tnet::controld {

namespace {

std::string errnoText(int err) { return std::strerror(err); }

// The text form is 72 bytes; anything much larger is not a key file.
constexpr size_t MAX_KEY_FILE = 4096;

Result<void> ensurePrivateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::failed("create state dir " + dir + ": " + errnoText(errno));
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return Error::failed("stat state dir " + dir + ": " + errnoText(errno));
  if (!S_ISDIR(st.st_mode)) return Error::failed("state dir " + dir + " is not a directory");
  if ((st.st_mode & 0077) != 0 && chmod(dir.c_str(), 0700) != 0) {
    return Error::failed("chmod 0700 " + dir + ": " + errnoText(errno));
  }
  return {};
}

Result<void> writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::failed(errnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<key::MachinePrivate> readKey(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error::failed("open " + path + ": " + errnoText(errno));
  struct stat st {};
  if (fstat(fd, &st) == 0 && (st.st_mode & 0077) != 0) fchmod(fd, 0600);
  auto text = readFdToEnd(fd, MAX_KEY_FILE);
  close(fd);
  if (!text) return Error::failed("read " + path + ": " + text.error().message);
  crypto::SecretString secret(std::move(*text));
  std::string_view view = secret.view();
  while (!view.empty() && (view.back() == '\n' || view.back() == '\r' || view.back() == ' ')) view.remove_suffix(1);
  auto parsed = key::MachinePrivate::parse(view);
  // The parse error text never quotes the input (it is a secret).
  if (!parsed) return Error::invalid(path + " does not hold a machine private key (privkey:<64 hex>)");
  if (parsed->isZero()) return Error::invalid(path + " holds the zero machine key");
  return std::move(*parsed);
}

Result<void> writeKey(const std::string& path, const key::MachinePrivate& machineKey) {
  std::string tmp = path + ".tmp";
  unlink(tmp.c_str());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error::failed("create " + tmp + ": " + errnoText(errno));
  crypto::SecretString text = machineKey.toText();
  auto wrote = writeAll(fd, text.view());
  if (wrote && fsync(fd) != 0) wrote = Error::failed(errnoText(errno));
  close(fd);
  if (!wrote) {
    unlink(tmp.c_str());
    return Error::failed("write " + tmp + ": " + wrote.error().message);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return Error::failed("rename " + tmp + ": " + errnoText(err));
  }
  return {};
}

}  // namespace

Result<void> hardenForKeys() {
  rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) return Error::failed("setrlimit(RLIMIT_CORE): " + errnoText(errno));
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Error::failed("prctl(PR_SET_DUMPABLE): " + errnoText(errno));
  return {};
}

Result<key::MachinePrivate> loadOrCreateMachineKey(const std::string& stateDir) {
  TNET_TRY_VOID(ensurePrivateDir(stateDir));
  std::string path = stateDir + "/" + MACHINE_KEY_FILE;
  if (access(path.c_str(), F_OK) == 0) return readKey(path);
  if (errno != ENOENT) return Error::failed("access " + path + ": " + errnoText(errno));
  auto fresh = key::MachinePrivate::generate();
  TNET_TRY_VOID(writeKey(path, fresh));
  return fresh;
}

}  // namespace tnet::controld
