// A small blocking HTTP/1.1 client for the LocalAPI over its Unix socket: one connection per
// request (Connection: close), plus a streaming reader for watch-ipn-bus.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/http_response_parser.h"
#include "libs/base/result.h"

namespace tnet::cli {

using Clock = std::chrono::steady_clock;

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::string body;
  std::optional<std::string> serverVersion;  // Tailscale-Version header
};

// An open watch-ipn-bus stream: newline-delimited ipn.Notify objects.
class NotifyStream {
 public:
  NotifyStream(int fd, HttpResponseParser parser, std::string pending);
  ~NotifyStream();
  NotifyStream(const NotifyStream&) = delete;
  NotifyStream& operator=(const NotifyStream&) = delete;

  // The next complete line, or nullopt when the deadline passes first. An error when the
  // daemon closes the stream or sends garbage.
  Result<std::optional<std::string>> nextLine(Clock::time_point deadline);

 private:
  static constexpr size_t MAX_LINE = 16 * 1024 * 1024;
  int fd_;
  HttpResponseParser parser_;
  std::string body_;  // decoded body bytes not yet returned as lines
};

class LocalApiClient {
 public:
  // candidates: socket paths in lookup order (socket_path.h).
  explicit LocalApiClient(std::vector<std::string> candidates,
                          std::chrono::milliseconds ioTimeout = std::chrono::seconds(30));

  // method, path (with query), optional JSON body. A 403 is returned as a response, not an
  // error; callers decide what to print.
  Result<HttpResponse> request(std::string_view method, std::string_view path, std::string_view body = {});
  // As request, but nullopt when no complete answer arrives within `timeout` (Go's context
  // deadline, e.g. `tnet ping --timeout`).
  Result<std::optional<HttpResponse>> requestWithin(std::string_view method, std::string_view path,
                                                    std::string_view body, std::chrono::milliseconds timeout);

  // GET /localapi/v0/watch-ipn-bus?mask=N; fails unless the daemon answers 200.
  Result<std::unique_ptr<NotifyStream>> watchIpnBus(uint64_t mask);

  // The socket that answered (after a successful request), else the first candidate.
  const std::string& socketPath() const;

 private:
  Result<int> connectSocket();
  Result<int> sendRequest(std::string_view method, std::string_view path, std::string_view body);

  std::vector<std::string> candidates_;
  std::optional<std::string> chosen_;
  std::chrono::milliseconds ioTimeout_;
};

// The one line printed when no candidate socket answers.
std::string unreachableMessage(const std::vector<std::string>& tried, const std::string& detail);

// Go's client error text for a non-success answer: the JSON {"Error":…} field when present,
// else the trimmed body.
std::string errorMessageFromBody(std::string_view body);
// The non-empty {"Error":…} field of a JSON body, if any.
std::optional<std::string> jsonErrorField(std::string_view body);

}  // namespace tnet::cli
