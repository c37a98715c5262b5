#include "cli/localapi_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/version_info.h"

namespace tnet::cli {
namespace {

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int msUntil(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000000 ? 1000000 : static_cast<int>(left);
}

// Waits for fd to be readable (or writable); false on timeout.
Result<bool> waitFd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, msUntil(deadline));
    if (n > 0) return true;
    if (n == 0) {
      if (Clock::now() >= deadline) return false;
      continue;
    }
    if (errno == EINTR) continue;
    return Error::failed(std::string("poll: ") + std::strerror(errno));
  }
}

Result<void> writeAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      TNET_TRY(bool ready, waitFd(fd, POLLOUT, deadline));
      if (!ready) return Error::failed("timed out sending to tailnetd");
      continue;
    }
    return Error::disconnected(std::string("sending to tailnetd: ") + std::strerror(errno));
  }
  return {};
}

// Reads what is available (after waiting for readability). 0 bytes means EOF; nullopt timeout.
Result<std::optional<size_t>> readSome(int fd, char* buf, size_t cap, Clock::time_point deadline) {
  for (;;) {
    TNET_TRY(bool ready, waitFd(fd, POLLIN, deadline));
    if (!ready) return std::optional<size_t>();
    ssize_t n = ::recv(fd, buf, cap, MSG_DONTWAIT);
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    return Error::disconnected(std::string("reading from tailnetd: ") + std::strerror(errno));
  }
}

std::string joinPaths(const std::vector<std::string>& paths) {
  std::string out;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (i > 0) out += " or ";
    out += paths[i];
  }
  return out;
}

}  // namespace

std::string unreachableMessage(const std::vector<std::string>& tried, const std::string& detail) {
  return "tnet: cannot reach tailnetd at " + joinPaths(tried) + ": " + detail;
}

std::optional<std::string> jsonErrorField(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  // Go's encoding/json matches keys case-insensitively: {"Error":…} and {"error":…} alike.
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string k = it.key();
    for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (k == "error" && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>();
    }
  }
  return std::nullopt;
}

std::string errorMessageFromBody(std::string_view body) {
  if (auto e = jsonErrorField(body)) return *e;
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) body.remove_prefix(1);
  return std::string(body);
}

LocalApiClient::LocalApiClient(std::vector<std::string> candidates, std::chrono::milliseconds ioTimeout)
    : candidates_(std::move(candidates)), ioTimeout_(ioTimeout) {}

const std::string& LocalApiClient::socketPath() const {
  if (chosen_) return *chosen_;
  return candidates_.front();
}

Result<int> LocalApiClient::connectSocket() {
  std::vector<std::string> order;
  if (chosen_)
    order.push_back(*chosen_);
  else
    order = candidates_;

  bool allAbsent = true;  // every failure means "nothing listening there"
  std::string lastDetail;
  for (const std::string& path : order) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
      allAbsent = false;
      lastDetail = "socket path longer than " + std::to_string(sizeof(addr.sun_path) - 1) + " bytes";
      continue;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    FdGuard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return Error::failed(std::string("socket: ") + std::strerror(errno));
    int rc;
    do {
      rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      chosen_ = path;
      return fd.release();
    }
    int err = errno;
    if (err != ENOENT && err != ECONNREFUSED && err != ENOTDIR && err != ENOTSOCK) {
      allAbsent = false;
      lastDetail = std::strerror(err);
    }
  }
  return Error::disconnected(unreachableMessage(order, allAbsent ? "is it running?" : lastDetail));
}

Result<int> LocalApiClient::sendRequest(std::string_view method, std::string_view path,
                                        std::string_view body) {
  TNET_TRY(int rawFd, connectSocket());
  FdGuard fd(rawFd);
  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  // Go's LocalAPI accepts only this Host (apitype.LocalAPIHost).
  req.append("Host: local-tailscaled.sock\r\n");
  req.append("User-Agent: tnet/").append(TNET_VERSION).append("\r\n");
  req.append("Tailscale-Cap: ").append(std::to_string(CAPABILITY_VERSION)).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    if (!body.empty()) req.append("Content-Type: application/json\r\n");
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  req.append("Connection: close\r\n\r\n");
  req.append(body);
  TNET_TRY_VOID(writeAll(fd.get(), req, Clock::now() + ioTimeout_));
  return fd.release();
}

Result<HttpResponse> LocalApiClient::request(std::string_view method, std::string_view path,
                                             std::string_view body) {
  TNET_TRY(auto resp, requestWithin(method, path, body, ioTimeout_));
  if (!resp) {
    return Error::failed("tnet: no answer from tailnetd at " + socketPath() + " within " +
                         std::to_string(ioTimeout_.count() / 1000) + "s");
  }
  return std::move(*resp);
}

Result<std::optional<HttpResponse>> LocalApiClient::requestWithin(std::string_view method, std::string_view path,
                                                                  std::string_view body,
                                                                  std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  TNET_TRY(int rawFd, sendRequest(method, path, body));
  FdGuard fd(rawFd);
  HttpResponseParser parser;
  HttpResponse resp;
  constexpr size_t MAX_BODY = 64 * 1024 * 1024;
  char buf[16384];
  while (!parser.done()) {
    TNET_TRY(auto n, readSome(fd.get(), buf, sizeof(buf), deadline));
    if (!n) return std::optional<HttpResponse>();
    if (*n == 0) {
      TNET_TRY_VOID(parser.finish());
      break;
    }
    TNET_TRY_VOID(parser.feed(std::string_view(buf, *n), resp.body));
    if (resp.body.size() > MAX_BODY) return Error::invalid("answer from tailnetd too large");
  }
  resp.status = parser.status();
  resp.reason = parser.reason();
  resp.serverVersion = parser.header("Tailscale-Version");
  return std::optional<HttpResponse>(std::move(resp));
}

Result<std::unique_ptr<NotifyStream>> LocalApiClient::watchIpnBus(uint64_t mask) {
  TNET_TRY(int rawFd, sendRequest("GET", "/localapi/v0/watch-ipn-bus?mask=" + std::to_string(mask), {}));
  FdGuard fd(rawFd);
  HttpResponseParser parser;
  std::string body;
  char buf[16384];
  auto deadline = Clock::now() + ioTimeout_;
  while (!parser.headersComplete()) {
    TNET_TRY(auto n, readSome(fd.get(), buf, sizeof(buf), deadline));
    if (!n) return Error::failed("tnet: watch-ipn-bus: no answer from tailnetd at " + socketPath());
    if (*n == 0) {
      TNET_TRY_VOID(parser.finish());
      break;
    }
    TNET_TRY_VOID(parser.feed(std::string_view(buf, *n), body));
  }
  if (parser.status() != 200) {
    // Drain what is there for a useful message, without waiting long.
    auto shortDeadline = Clock::now() + std::chrono::seconds(2);
    while (!parser.done()) {
      auto n = readSome(fd.get(), buf, sizeof(buf), shortDeadline);
      if (!n || !*n || **n == 0) break;
      if (!parser.feed(std::string_view(buf, **n), body)) break;
    }
    std::string msg = errorMessageFromBody(body);
    if (parser.status() == 403) return Error::denied("Access denied: " + msg);
    return Error::failed("watch-ipn-bus: " + std::to_string(parser.status()) + " " + parser.reason() +
                         (msg.empty() ? "" : ": " + msg));
  }
  return std::make_unique<NotifyStream>(fd.release(), std::move(parser), std::move(body));
}

NotifyStream::NotifyStream(int fd, HttpResponseParser parser, std::string pending)
    : fd_(fd), parser_(std::move(parser)), body_(std::move(pending)) {}

NotifyStream::~NotifyStream() {
  ::close(fd_);
}

Result<std::optional<std::string>> NotifyStream::nextLine(Clock::time_point deadline) {
  char buf[16384];
  for (;;) {
    size_t nl = body_.find('\n');
    if (nl != std::string::npos) {
      std::string line = body_.substr(0, nl);
      body_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      return std::optional<std::string>(std::move(line));
    }
    if (body_.size() > MAX_LINE) return Error::invalid("watch-ipn-bus: message too large");
    if (parser_.done()) return Error::disconnected("tailnetd closed the watch-ipn-bus stream");
    TNET_TRY(auto n, readSome(fd_, buf, sizeof(buf), deadline));
    if (!n) return std::optional<std::string>();
    if (*n == 0) {
      (void)parser_.finish();
      return Error::disconnected("tailnetd closed the watch-ipn-bus stream");
    }
    TNET_TRY_VOID(parser_.feed(std::string_view(buf, *n), body_));
  }
}

}  // namespace tnet::cli
