#include "services/netstackd/core/http_proxy.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>
#include <vector>

namespace tnet::netstack::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

ProxyRequest fail(int status, std::string msg) {
  ProxyRequest r;
  r.status = Status::FAIL;
  r.failStatus = status;
  r.error = std::move(msg);
  return r;
}

// host:port or [v6]:port; `defaultPort` 0 means the port is required.
bool splitHostPort(std::string_view hp, uint16_t defaultPort, std::string& host, uint16_t& port) {
  std::string_view portText;
  if (hp.starts_with("[")) {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(hp.substr(1, close - 1));
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      portText = rest.substr(1);
    }
  } else {
    auto colon = hp.rfind(':');
    if (colon != std::string_view::npos) {
      if (hp.find(':') != colon) return false;  // bare IPv6 without brackets
      host = std::string(hp.substr(0, colon));
      portText = hp.substr(colon + 1);
    } else {
      host = std::string(hp);
    }
  }
  if (host.empty()) return false;
  for (char c : host)
    if (c <= ' ' || c == 0x7f || c == '/' || c == '@') return false;
  if (portText.empty()) {
    if (defaultPort == 0) return false;
    port = defaultPort;
    return true;
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), v);
  if (ec != std::errc() || p != portText.data() + portText.size() || v == 0 || v > 65535) return false;
  port = uint16_t(v);
  return true;
}

}  // namespace

ProxyRequest parseProxyRequest(std::span<const uint8_t> in) {
  std::string_view data(reinterpret_cast<const char*>(in.data()), in.size());
  auto end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > MAX_HEAD) return fail(431, "request head too large");
    return {};
  }
  if (end + 4 > MAX_HEAD) return fail(431, "request head too large");
  std::string_view head = data.substr(0, end + 2);
  auto lineEnd = head.find("\r\n");
  std::string_view line = head.substr(0, lineEnd);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), isTokenChar))
    return fail(400, "malformed method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(505, "unsupported HTTP version");
  if (target.empty() || target.find(' ') != std::string_view::npos)
    return fail(400, "malformed request target");

  ProxyRequest r;
  r.method = std::string(method);
  r.headLen = end + 4;
  std::string path = "/";
  if (method == "CONNECT") {
    r.isConnect = true;
    if (!splitHostPort(target, 0, r.host, r.port)) return fail(400, "CONNECT needs host:port");
  } else {
    constexpr std::string_view HTTP = "http://";
    if (target.size() < HTTP.size() || !iequals(target.substr(0, HTTP.size()), HTTP)) {
      if (target.starts_with("/")) return fail(400, "not a proxy request (origin-form target)");
      return fail(400, "only http:// absolute URIs are proxied");
    }
    std::string_view rest = target.substr(HTTP.size());
    auto slash = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos) return fail(400, "userinfo in URI");
    if (!splitHostPort(authority, 80, r.host, r.port)) return fail(400, "bad host in URI");
    if (slash != std::string_view::npos) {
      std::string_view p = rest.substr(slash);
      if (auto hash = p.find('#'); hash != std::string_view::npos) p = p.substr(0, hash);
      path = p.starts_with("?") ? "/" + std::string(p) : std::string(p);
      if (path.empty()) path = "/";
    }
    r.forwardHead = r.method + " " + path + " " + std::string(version) + "\r\n";
  }

  // Headers: count, validate, and (for forwarding) drop the hop-by-hop ones.
  size_t pos = lineEnd + 2;
  size_t count = 0;
  bool haveHost = false;
  while (pos < head.size()) {
    auto e = head.find("\r\n", pos);
    std::string_view h = head.substr(pos, e - pos);
    pos = e + 2;
    if (++count > MAX_HEADERS) return fail(431, "too many headers");
    auto colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos) return fail(400, "malformed header");
    std::string_view name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), isTokenChar)) return fail(400, "malformed header name");
    if (r.isConnect) continue;
    if (iequals(name, "Proxy-Connection") || iequals(name, "Proxy-Authorization") ||
        iequals(name, "Connection") || iequals(name, "Keep-Alive") || iequals(name, "Proxy-Authenticate") ||
        iequals(name, "Upgrade"))
      continue;
    if (iequals(name, "Host")) haveHost = true;
    r.forwardHead.append(h);
    r.forwardHead += "\r\n";
  }
  if (!r.isConnect) {
    if (!haveHost) {
      bool v6 = r.host.find(':') != std::string::npos;
      r.forwardHead += "Host: " + (v6 ? "[" + r.host + "]" : r.host);
      if (r.port != 80) r.forwardHead += ":" + std::to_string(r.port);
      r.forwardHead += "\r\n";
    }
    r.forwardHead += "Connection: close\r\n\r\n";
  }
  r.status = Status::OK;
  return r;
}

std::string buildResponse(int code, const std::string& connectError) {
  const char* reason = "Error";
  switch (code) {
    case 200:
      reason = "OK";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 405:
      reason = "Method Not Allowed";
      break;
    case 431:
      reason = "Request Header Fields Too Large";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    case 502:
      reason = "Bad Gateway";
      break;
    case 503:
      reason = "Service Unavailable";
      break;
    case 505:
      reason = "HTTP Version Not Supported";
      break;
  }
  std::string out = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n";
  if (code == 200) return out + "\r\n";
  // Go's http.Error: the error text itself is the body.
  std::string body = (connectError.empty() ? std::string(reason) : connectError) + "\n";
  // Header values cannot carry CR/LF.
  std::string safe;
  for (char c : connectError) safe += (c == '\r' || c == '\n') ? ' ' : c;
  if (!safe.empty()) out += "Tailscale-Connect-Error: " + safe + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
  return out;
}

std::string buildBadGateway() {
  return "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

}  // namespace tnet::netstack::http
