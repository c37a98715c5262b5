#include "services/wgd/app/node_key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "libs/base/fd_read.h"

namespace tnet::wgd {
namespace {

constexpr size_t MAX_KEY_FILE = 256;

std::string errnoText(int err) {
  return std::strerror(err);
}

Result<void> fsyncDir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Error::failed("open " + dir + ": " + errnoText(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return Error::failed("fsync " + dir + ": " + errnoText(err));
  return {};
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(size_t(w));
  }
  return true;
}

// Writes the key's text form to `path` crash-safely (temp file, fsync, rename, fsync dir).
Result<void> writeKeyFile(const std::string& dir, const std::string& path, const key::NodePrivate& k) {
  crypto::SecretString text = k.toText();
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error::failed("create " + tmp + ": " + errnoText(errno));
  bool ok = writeAll(fd, text.view()) && writeAll(fd, "\n");
  int err = ok ? 0 : errno;
  if (ok && (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0)) {
    ok = false;
    err = errno;
  }
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return Error::failed("write " + path + ": " + errnoText(err));
  }
  return fsyncDir(dir);
}

}  // namespace

Result<NodeKeyStore> NodeKeyStore::open(std::string stateDir) {
  crypto::init();
  struct stat st {};
  if (::stat(stateDir.c_str(), &st) != 0)
    return Error::failed("state dir " + stateDir + ": " + errnoText(errno));
  if (!S_ISDIR(st.st_mode)) return Error::failed("state dir " + stateDir + " is not a directory");
  if (st.st_uid == ::geteuid() && (st.st_mode & 0777) != 0700 && ::chmod(stateDir.c_str(), 0700) != 0) {
    return Error::failed("chmod 0700 " + stateDir + ": " + errnoText(errno));
  }
  NodeKeyStore s(std::move(stateDir));
  // Temp files of an interrupted write are never keys anyone relies on.
  ::unlink((s.pathOf(NODE_KEY_FILE) + std::string(".tmp")).c_str());
  ::unlink((s.pathOf(PENDING_NODE_KEY_FILE) + std::string(".tmp")).c_str());
  TNET_TRY(auto current, s.load(NODE_KEY_FILE));
  TNET_TRY(auto pending, s.load(PENDING_NODE_KEY_FILE));
  s.current_ = std::move(current);
  s.pending_ = std::move(pending);
  return s;
}

Result<std::optional<key::NodePrivate>> NodeKeyStore::load(const char* name) {
  const std::string path = pathOf(name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<key::NodePrivate>();
    return Error::failed("open " + path + ": " + errnoText(errno));
  }
  auto text = readFdToEnd(fd, MAX_KEY_FILE);
  ::close(fd);
  std::string problem;
  if (text) {
    crypto::SecretString secret(std::move(*text));
    std::string_view v = secret.view();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.remove_suffix(1);
    auto parsed = key::NodePrivate::parse(v);
    if (parsed && !parsed->isZero()) return std::optional<key::NodePrivate>(std::move(*parsed));
    problem = parsed ? "zero key" : parsed.error().message;
  } else {
    problem = text.error().message;
  }
  const std::string aside = path + ".corrupt-" + std::to_string(::time(nullptr));
  if (::rename(path.c_str(), aside.c_str()) != 0) {
    return Error::failed(std::string(name) + " is unusable (" + problem +
                         ") and could not be set aside: " + errnoText(errno));
  }
  if (!problem_.empty()) problem_ += "; ";
  problem_ += std::string(name) + " was unusable (" + problem + "); moved to " + aside;
  return std::optional<key::NodePrivate>();
}

std::optional<key::NodePublic> NodeKeyStore::currentPublic() const {
  if (!current_) return std::nullopt;
  return current_->publicKey();
}

std::optional<key::NodePublic> NodeKeyStore::pendingPublic() const {
  if (!pending_) return std::nullopt;
  return pending_->publicKey();
}

Result<key::NodePublic> NodeKeyStore::prepare() {
  if (pending_) return pending_->publicKey();
  key::NodePrivate fresh = key::NodePrivate::generate();
  TNET_TRY_VOID(writeKeyFile(dir_, pathOf(PENDING_NODE_KEY_FILE), fresh));
  pending_ = std::move(fresh);
  return pending_->publicKey();
}

Result<bool> NodeKeyStore::commit(const key::NodePublic& pub) {
  if (current_ && current_->publicKey() == pub) return false;
  if (!pending_ || pending_->publicKey() != pub) {
    return Error::invalid("commitNodeKey: " + pub.shortString() +
                          " is neither the pending nor the current key");
  }
  const std::string from = pathOf(PENDING_NODE_KEY_FILE), to = pathOf(NODE_KEY_FILE);
  if (::rename(from.c_str(), to.c_str()) != 0)
    return Error::failed("rename " + from + ": " + errnoText(errno));
  TNET_TRY_VOID(fsyncDir(dir_));
  current_ = std::move(pending_);
  pending_.reset();
  ++commits_;
  return true;
}

Result<void> NodeKeyStore::discardPending() {
  if (!pending_) return {};
  const std::string path = pathOf(PENDING_NODE_KEY_FILE);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Error::failed("unlink " + path + ": " + errnoText(errno));
  TNET_TRY_VOID(fsyncDir(dir_));
  pending_.reset();
  return {};
}

}  // namespace tnet::wgd
