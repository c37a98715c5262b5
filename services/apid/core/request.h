// The LocalAPI front's decision for one parsed HTTP request: answer it here (bad Host, Origin,
// unknown path, wrong method, bad JSON, …) or forward it to ipnd with the caller's identity.
// Everything is Go tailscaled's behaviour (ipn/ipnserver + ipn/localapi), checked in the same
// order, so a client cannot tell the two apart by probing. Pure: the app and the fuzz target call
// the same decideRequest().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tnet::apid {

inline constexpr std::string_view LOCALAPI_HOST = "local-tailscaled.sock";

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

struct HttpRequest {
  std::string_view method;
  std::string_view target;
  unsigned version = 11;  // 10 = HTTP/1.0, 11 = HTTP/1.1
  std::span<const HeaderField> headers;
  std::string_view body;
};

// SO_PEERCRED of the connection.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
};

struct Policy {
  uint32_t ownerUid = 0;  // --owner-uid: may write, like root
  std::string version;    // Tailscale-Version header and Notify.Version
};

struct HttpResponse {
  uint16_t status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;     // send Connection: close and close after writing
  bool headOnly = false;  // HEAD: Content-Length of `body`, but no body bytes
};

// What ipnd receives (schemas/ipnd.capnp LocalApiRequest) plus how apid answers afterwards.
struct ForwardRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  uint32_t callerUid = 0;
  uint32_t callerPid = 0;
  bool callerPrivileged = false;
  bool needsWrite = false;
  bool streaming = false;  // watch-ipn-bus: after ipnd's reply, stream ipnd.notify events
  uint64_t watchMask = 0;
  bool head = false;
};

using Decision = std::variant<HttpResponse, ForwardRequest>;

// Root and --owner-uid write; ipnd additionally admits Prefs.OperatorUser.
bool isPrivileged(const Caller& caller, const Policy& policy);

Decision decideRequest(const HttpRequest& request, const Caller& caller, const Policy& policy);

// The response for ipnd's LocalApiReply. An empty contentType with a body is sent as
// text/plain (Go's handlers always name one; this only guards against a missing field).
HttpResponse responseFromIpnd(const ForwardRequest& forward, const Policy& policy, uint16_t status,
                              std::string_view contentType, std::string_view body);

// 503 when ipnd did not answer in time or is not reachable.
HttpResponse ipndUnavailable(const ForwardRequest& forward, const Policy& policy, std::string_view reason);

// Headers of a watch-ipn-bus stream (status 200, application/json); the app sends the body
// chunked, one Notify line per chunk.
HttpResponse streamHead(const Policy& policy);

// Errors found while reading the request (before decideRequest), as Go's net/http server
// answers them: plain text "<code> <reason>[: detail]", Connection: close.
HttpResponse headerTooLarge();
HttpResponse bodyTooLarge();
HttpResponse badRequest(std::string_view detail);  // detail "" → "400 Bad Request"

// Go's http.Error: text/plain; charset=utf-8, nosniff, body "msg\n".
HttpResponse goHttpError(uint16_t status, std::string_view message);

// Case-insensitive lookup of the first value of a header (Go: Header.Get).
std::string_view headerValue(std::span<const HeaderField> headers, std::string_view name);
size_t headerCount(std::span<const HeaderField> headers, std::string_view name);

}  // namespace tnet::apid
