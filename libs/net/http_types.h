// Plain value types shared by libs/net's HTTP/1.1 client, ts2021 client and ts2021 server.
// Asio-free: include freely.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tnet::net {

// Header fields in wire order. Names keep the case they arrived in (HTTP/2 names are always
// lower case); compare with headerValue(), which ignores case.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The first value of `name` (ASCII case-insensitive), or nullopt.
std::optional<std::string_view> headerValue(const HeaderList& headers, std::string_view name);

// ---- HTTP/1.1 client ----
struct HttpResponse {
  int status = 0;
  HeaderList headers;
  std::string body;
};

// ---- ts2021 (HTTP/2 over Noise) client ----
struct H2Request {
  std::string method = "POST";
  std::string path;  // "/machine/register"
  HeaderList headers;
  std::string body;
};

struct H2Response {
  int status = 0;
  HeaderList headers;
  std::string body;
};

// ---- server side ----
struct ServerHttpRequest {
  std::string method;
  std::string target;  // path and query as sent ("/key?v=116")
  HeaderList headers;
  std::string body;
};

}  // namespace tnet::net
