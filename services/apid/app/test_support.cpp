#include "services/apid/app/test_support.h"

#include "libs/ipn/capver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

namespace tnet::apid::testing {

std::chrono::milliseconds scaled(std::chrono::milliseconds ms) {
  const char* s = std::getenv("TAILNETD_TEST_TIME_SCALE");
  int scale = s ? std::atoi(s) : 1;
  return ms * (scale > 0 ? scale : 1);
}

std::string binDir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/apidt-XXXXXX";  // short: sun_path is 108 bytes
  char* p = mkdtemp(tmpl);
  if (p) path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

int listenUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 512) != 0) {
    close(fd);
    return -1;
  }
  chmod(path.c_str(), 0666);
  return fd;
}

Process::Process(std::vector<std::string> argv, int listenFd, const std::string& logPath) {
  pid_ = fork();
  if (pid_ != 0) return;
  // Child.
  int log = open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (log >= 0) dup2(log, 2);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
  }
  if (listenFd >= 0) {
    if (listenFd != 3) {
      dup2(listenFd, 3);
    } else {
      fcntl(3, F_SETFD, 0);
    }
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  }
  unsetenv("NOTIFY_SOCKET");
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

Process::~Process() {
  stop();
}

bool Process::running() {
  if (pid_ <= 0) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) {
    pid_ = -1;  // reaped: stop() reports the saved status
    return false;
  }
  return true;
}

int Process::stop() {
  if (pid_ <= 0) return status_;
  kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::milliseconds(5000));
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string HttpResponse::header(const std::string& lowerName) const {
  auto it = headers.find(lowerName);
  return it == headers.end() ? std::string("<absent>") : it->second;
}

HttpConn::HttpConn(const std::string& socketPath) {
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socketPath.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

HttpConn::~HttpConn() {
  if (fd_ >= 0) close(fd_);
}

bool HttpConn::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool HttpConn::fill(std::chrono::milliseconds timeout) {
  if (eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char tmp[65536];
  ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

std::optional<std::string> HttpConn::readLine(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    size_t eol = buf_.find("\r\n");
    if (eol != std::string::npos) {
      std::string line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      return line;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(left)) return std::nullopt;
  }
}

std::optional<HttpResponse> HttpConn::readHead(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto status = readLine(deadline);
  if (!status || status->rfind("HTTP/1.", 0) != 0 || status->size() < 12) return std::nullopt;
  HttpResponse r;
  r.status = std::atoi(status->substr(9, 3).c_str());
  r.reason = status->substr(13 < status->size() ? 13 : status->size());
  for (;;) {
    auto line = readLine(deadline);
    if (!line) return std::nullopt;
    if (line->empty()) break;
    size_t colon = line->find(':');
    std::string name = line->substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = colon == std::string::npos ? "" : line->substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers.emplace(name, value);
  }
  return r;
}

std::optional<std::string> HttpConn::readChunk(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto sizeLine = readLine(deadline);
  if (!sizeLine) return std::nullopt;
  size_t size = std::strtoul(sizeLine->c_str(), nullptr, 16);
  while (buf_.size() < size + 2) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(left)) return std::nullopt;
  }
  std::string data = buf_.substr(0, size);
  buf_.erase(0, size + 2);
  return data;
}

std::optional<HttpResponse> HttpConn::read(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto r = readHead(timeout);
  if (!r) return std::nullopt;
  if (r->status == 100) return read(timeout);  // interim
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  std::string te = r->header("transfer-encoding");
  std::string cl = r->header("content-length");
  if (te == "chunked") {
    for (;;) {
      auto chunk = readChunk(left());
      if (!chunk) return std::nullopt;
      if (chunk->empty()) break;
      r->body += *chunk;
    }
  } else if (cl != "<absent>") {
    size_t n = std::strtoul(cl.c_str(), nullptr, 10);
    while (buf_.size() < n) {
      if (left().count() <= 0 || !fill(left())) return std::nullopt;
    }
    r->body = buf_.substr(0, n);
    buf_.erase(0, n);
  } else if (!(r->status == 204 || r->status == 304)) {
    while (fill(left())) {
    }
    r->body = std::move(buf_);
    buf_.clear();
  }
  r->closed = r->header("connection") == "close";
  return r;
}

bool HttpConn::waitFor(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buf_.find(needle) == std::string::npos) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(left)) return false;
  }
  return true;
}

bool HttpConn::waitClosed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!fill(left) && !eof_) return false;
  }
  return true;
}

std::string request(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& extraHeaders) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: local-tailscaled.sock\r\n" +
                  "Tailscale-Cap: " + std::to_string(ipn::CAPABILITY_VERSION) + "\r\n" + extraHeaders;
  if (!body.empty() || method == "POST" || method == "PATCH") {
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

std::optional<HttpResponse> roundTrip(const std::string& socketPath, const std::string& raw,
                                      std::chrono::milliseconds timeout) {
  HttpConn c(socketPath);
  if (!c.connected() || !c.send(raw)) return std::nullopt;
  return c.read(timeout);
}

bool waitForPath(const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace tnet::apid::testing
