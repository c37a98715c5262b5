// The request head of netstackd's HTTP proxy (Go's --outbound-http-proxy-listen): CONNECT with an
// authority, or an absolute http:// URI that is forwarded in origin form. Parses untrusted bytes
// from local applications (fuzzed). One request per connection: forwarded requests get
// "Connection: close" and lose the hop-by-hop proxy headers.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace tnet::netstack::http {

inline constexpr size_t MAX_HEAD = 16 * 1024;
inline constexpr size_t MAX_HEADERS = 100;

enum class Status { NEED_MORE, OK, FAIL };

struct ProxyRequest {
  Status status = Status::NEED_MORE;
  bool isConnect = false;
  std::string method;
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;
  size_t headLen = 0;       // bytes of the request head, including the blank line
  std::string forwardHead;  // for non-CONNECT: the head to send upstream
  int failStatus = 400;     // when FAIL
  std::string error;
};

ProxyRequest parseProxyRequest(std::span<const uint8_t> in);

// "HTTP/1.1 <code> <reason>\r\n..." with an optional Go-style Tailscale-Connect-Error header.
std::string buildResponse(int code, const std::string& connectError = "");
// What Go's ReverseProxy answers when it cannot reach the target of an absolute-URI request:
// 502 with an empty body.
std::string buildBadGateway();

}  // namespace tnet::netstack::http
