#include "supervisor/config_handoff.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "libs/base/fd_read.h"
#include "libs/ipn/config_valpha.h"

namespace tnet::supervisor {
namespace {

constexpr size_t MAX_CONFIG_BYTES = 1 << 20;
constexpr size_t MAX_AUTH_KEY_FILE_BYTES = 4096;

Result<std::string> readSmallFile(const std::string& path, size_t limit, const char* what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error::failed(std::string("cannot read ") + what + " " + path + ": " + std::strerror(errno));
  auto out = readFdToEnd(fd, limit);
  close(fd);
  if (out) return out;
  if (out.error().kind == ErrorKind::INVALID) {
    return Error::invalid(std::string(what) + " " + path + " is larger than " + std::to_string(limit) +
                          " bytes");
  }
  return Error::failed(std::string("cannot read ") + what + " " + path + ": " + out.error().message);
}

std::string trimSpace(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

Result<std::string> loadConfigForIpnd(const std::string& path) {
  TNET_TRY(std::string text, readSmallFile(path, MAX_CONFIG_BYTES, "config file"));
  auto cfg = ipn::parseConfigVAlpha(text);
  sodium_memzero(text.data(), text.size());
  if (!cfg) return Error::invalid("config file " + path + ": " + cfg.error().message);
  // Validated completely: what ipnd will turn it into must be valid too.
  if (auto prefs = ipn::configToMaskedPrefs(*cfg); !prefs) {
    return Error::invalid("config file " + path + ": " + prefs.error().message);
  }
  if (cfg->authKeyIsFile()) {
    // Read here, with the supervisor's rights (root): the services cannot read it.
    std::string keyPath = cfg->authKey->substr(5);
    auto contents = readSmallFile(keyPath, MAX_AUTH_KEY_FILE_BYTES, "auth key file");
    sodium_memzero(cfg->authKey->data(), cfg->authKey->size());
    if (!contents) return contents.error();
    std::string resolved = trimSpace(*contents);
    sodium_memzero(contents->data(), contents->size());
    if (resolved.empty()) return Error::invalid("auth key file " + keyPath + " is empty");
    *cfg->authKey = std::move(resolved);
  }
  std::string doc = ipn::configVAlphaToString(*cfg);
  if (cfg->authKey) sodium_memzero(cfg->authKey->data(), cfg->authKey->size());
  return doc;
}

Result<int> makeConfigPipe(const std::string& document) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error::failed(std::string("pipe2: ") + std::strerror(errno));
  // The whole document must fit the pipe, since nobody reads it until ipnd runs.
  if (document.size() > 65536 && fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(document.size())) < 0) {
    close(p[0]);
    close(p[1]);
    return Error::failed("config too large for a pipe (" + std::to_string(document.size()) + " bytes)");
  }
  size_t off = 0;
  while (off < document.size()) {
    ssize_t n = write(p[1], document.data() + off, document.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(p[0]);
      close(p[1]);
      return Error::failed(std::string("writing the config pipe: ") + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  close(p[1]);
  return p[0];
}

}  // namespace tnet::supervisor
