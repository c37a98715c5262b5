#include "services/ipnd/app/prefs_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "libs/base/fd_read.h"

namespace tnet::ipnd {

namespace {

constexpr size_t MAX_PREFS_FILE_BYTES = 16 * 1024 * 1024;

std::string errnoText(int err) {
  return std::strerror(err);
}

// Reads the whole file; a directory, a FIFO or an unreadable file are errors.
Result<std::string> readAll(const std::string& path, bool& missing) {
  missing = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) {
      missing = true;
      return std::string();
    }
    return Error::failed("open " + path + ": " + errnoText(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::failed(path + " is not a regular file");
  }
  if (uint64_t(st.st_size) > MAX_PREFS_FILE_BYTES) {
    ::close(fd);
    return Error::failed(path + " is larger than 16 MiB");
  }
  auto data = readFdToEnd(fd, MAX_PREFS_FILE_BYTES);  // the file may grow after fstat
  ::close(fd);
  if (!data) {
    if (data.error().kind == ErrorKind::INVALID) return Error::failed(path + " is larger than 16 MiB");
    return Error::failed("read " + path + ": " + data.error().message);
  }
  return data;
}

// rename without replacing: corrupt-<t>, then corrupt-<t>.1, .2, …
Result<std::string> setAside(const std::string& dir, int64_t nowUnix) {
  std::string from = dir + "/" + std::string(PREFS_FILE_NAME);
  std::string base = from + ".corrupt-" + std::to_string(nowUnix);
  for (int i = 0; i < 100; ++i) {
    std::string to = i == 0 ? base : base + "." + std::to_string(i);
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return to;
    }
    if (errno != EEXIST) return Error::failed("rename " + from + " to " + to + ": " + errnoText(errno));
  }
  return Error::failed("rename " + from + ": too many corrupt copies already");
}

void removeStaleTemps(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::string prefix = std::string(PREFS_FILE_NAME) + ".tmp-";
  while (struct dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) {
      ::unlinkat(::dirfd(d), e->d_name, 0);
    }
  }
  ::closedir(d);
}

std::string baseName(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

}  // namespace

PrefsLoad loadPrefsFile(const std::string& stateDir, int64_t nowUnix) {
  PrefsLoad out;
  removeStaleTemps(stateDir);  // left by a save that was interrupted; never the real file
  std::string path = stateDir + "/" + std::string(PREFS_FILE_NAME);
  bool missing = false;
  auto data = readAll(path, missing);
  std::string problem;
  if (!data) {
    problem = data.error().message;
  } else if (missing) {
    return out;
  } else {
    auto decoded = decodePrefsFile(*data);
    if (decoded) {
      out.file = std::move(*decoded);
      return out;
    }
    problem = decoded.error().message;
  }
  auto moved = setAside(stateDir, nowUnix);
  if (!moved) {
    out.unhealthy =
        "prefs.json is unusable (" + problem + ") and could not be set aside: " + moved.error().message;
    return out;
  }
  out.health = "prefs.json was unusable (" + problem + "); moved to " + baseName(*moved) +
               "; started with default prefs";
  return out;
}

Result<void> savePrefsFile(const std::string& stateDir, const PrefsFile& file) {
  std::string data = encodePrefsFile(file);
  std::string path = stateDir + "/" + std::string(PREFS_FILE_NAME);
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error::failed("create " + tmp + ": " + errnoText(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error::failed("write " + tmp + ": " + errnoText(err));
    }
    off += size_t(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error::failed("fsync " + tmp + ": " + errnoText(err));
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::failed("close " + tmp + ": " + errnoText(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::failed("rename " + tmp + ": " + errnoText(err));
  }
  // The rename is durable only once the directory entry is on disk.
  int dfd = ::open(stateDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Error::failed("open " + stateDir + ": " + errnoText(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return Error::failed("fsync " + stateDir + ": " + errnoText(err));
  return {};
}

}  // namespace tnet::ipnd
