#include "services/apid/core/request.h"

#include <string>

#include "services/apid/core/endpoints.h"
#include "services/apid/core/go_json.h"
#include "services/apid/core/limits.h"
#include "services/apid/core/url.h"
#include "services/apid/core/watch_mask.h"

namespace tnet::apid {
namespace {

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Go's httpguts.ValidHostHeader: bytes allowed in a Host header.
bool validHostHeader(std::string_view h) {
  for (char c : h) {
    auto u = static_cast<unsigned char>(c);
    bool ok = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
              std::string_view("!$%&'()*+,-.:;=[]_~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Printable ASCII and tabs only: nothing that could end a header line.
bool validHeaderValue(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u >= 0x7f) return false;
  }
  return true;
}

// Headers Go's LocalAPI handler sets on every response once the request passed its checks.
void addLocalApiHeaders(HttpResponse& r, const Policy& policy) {
  r.headers.emplace_back("Tailscale-Version", policy.version);
  r.headers.emplace_back("Tailscale-Cap", std::to_string(TAILSCALE_CAP));
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; frame-ancestors 'none'; script-src 'none'; "
                         "script-src-elem 'none'; script-src-attr 'none'");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
}

HttpResponse localApiError(const Policy& policy, uint16_t status, std::string_view message) {
  HttpResponse r;
  addLocalApiHeaders(r, policy);
  HttpResponse e = goHttpError(status, message);
  r.status = e.status;
  r.body = std::move(e.body);
  // http.Error sets Content-Type and nosniff; nosniff is already among the LocalAPI headers.
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

HttpResponse serverError(uint16_t status, std::string text) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(text);
  r.close = true;
  return r;
}

}  // namespace

std::string_view headerValue(std::span<const HeaderField> headers, std::string_view name) {
  for (const HeaderField& h : headers) {
    if (equalsNoCase(h.name, name)) return h.value;
  }
  return {};
}

size_t headerCount(std::span<const HeaderField> headers, std::string_view name) {
  size_t n = 0;
  for (const HeaderField& h : headers) {
    if (equalsNoCase(h.name, name)) ++n;
  }
  return n;
}

HttpResponse goHttpError(uint16_t status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.body = std::string(message) + "\n";
  return r;
}

HttpResponse headerTooLarge() {
  return serverError(431, "431 Request Header Fields Too Large");
}

HttpResponse bodyTooLarge() {
  return serverError(
      413, "413 Request Entity Too Large: request body exceeds " + std::to_string(MAX_BODY_BYTES) + " bytes");
}

HttpResponse badRequest(std::string_view detail) {
  std::string text = "400 Bad Request";
  if (!detail.empty()) text += ": " + std::string(detail);
  return serverError(400, std::move(text));
}

bool isPrivileged(const Caller& caller, const Policy& policy) {
  return caller.uid == 0 || caller.uid == policy.ownerUid;
}

Decision decideRequest(const HttpRequest& req, const Caller& caller, const Policy& policy) {
  // net/http server level.
  if (headerCount(req.headers, "Host") > 1) return badRequest("too many Host headers");
  // Go parses a CONNECT target in authority form and exempts it from the Host rule; ipnserver
  // then refuses the method on every path (Windows-only proxying).
  if (req.method == "CONNECT") return goHttpError(405, "bad method for platform");
  if (req.version >= 11 && headerCount(req.headers, "Host") == 0) {
    return badRequest("missing required Host header");
  }
  std::string_view hostHeader = headerValue(req.headers, "Host");
  if (!validHostHeader(hostHeader)) return badRequest("malformed Host header");
  auto target = parseRequestTarget(req.target);
  if (!target) return badRequest("");
  std::string host = target->absolute ? target->host : std::string(hostHeader);

  // ipnserver.serveHTTP.
  const std::string& path = target->path;
  if (path.rfind("/localapi/", 0) != 0) {
    if (path != "/") return goHttpError(404, "404 page not found");
    HttpResponse r;
    r.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
    r.body =
        "<html><title>tailnetd</title><body><h1>tailnetd</h1>This is the local tailnetd "
        "daemon.\n";
    r.headOnly = req.method == "HEAD";
    return r;
  }
  if (!isValidStdBase64(headerValue(req.headers, "X-Tailscale-Reason"))) {
    return goHttpError(400, "invalid reason header");
  }

  // localapi.Handler.ServeHTTP: CSRF and DNS-rebinding defence before anything else.
  if (!headerValue(req.headers, "Referer").empty() || !headerValue(req.headers, "Origin").empty() ||
      !(host.empty() || host == LOCALAPI_HOST)) {
    return goHttpError(403, "invalid localapi request");
  }
  const Endpoint* endpoint = findEndpoint(path);
  if (!endpoint) return localApiError(policy, 404, "404 page not found");
  const bool privileged = isPrivileged(caller, policy);
  // Where Go checks write permission first, only ipnd can answer an unprivileged caller's
  // wrong method or bad body (it may be the operator); see Endpoint::writeCheckedFirst.
  bool deferToIpnd = false;
  const MethodRule* rule = findMethod(*endpoint, req.method);
  if (!rule) {
    if (!(endpoint->writeCheckedFirst && !privileged)) {
      return localApiError(policy, endpoint->wrongMethodStatus, endpoint->wrongMethodMessage);
    }
    deferToIpnd = true;
  } else if (rule->body != BodyCheck::NONE) {
    auto ok = checkJsonForStruct(req.body, rule->goType);
    if (!ok) {
      if (privileged || !rule->needsWrite) {
        return localApiError(policy, 400,
                             rule->body == BodyCheck::JSON_FIXED ? rule->fixedJsonError
                                                                 : std::string_view(ok.error().message));
      }
      deferToIpnd = true;  // Go: 403 before decoding for anyone but the operator
    }
  }
  ForwardRequest f;
  f.method = std::string(req.method);
  f.path = path;
  f.query = target->rawQuery;
  f.body = std::string(req.body);
  f.callerUid = caller.uid;
  f.callerPid = caller.pid;
  f.callerPrivileged = privileged;
  f.needsWrite = deferToIpnd || rule->needsWrite;
  f.head = req.method == "HEAD";
  if (endpoint->streaming) {
    auto mask = parseWatchMask(target->rawQuery);
    if (!mask) return localApiError(policy, 400, mask.error().message);
    f.watchMask = *mask;
    f.streaming = !f.head;
  }
  return f;
}

HttpResponse responseFromIpnd(const ForwardRequest& forward, const Policy& policy, uint16_t status,
                              std::string_view contentType, std::string_view body) {
  if (status < 100 || status > 599 || !validHeaderValue(contentType)) {
    // Never let a reply (from a buggy ipnd) split or forge response headers.
    HttpResponse bad = localApiError(policy, 502, "tailnetd: ipnd sent an invalid reply");
    bad.headOnly = forward.head;
    return bad;
  }
  HttpResponse r;
  addLocalApiHeaders(r, policy);
  r.status = status;
  // 1xx, 204 and 304 carry no body in HTTP/1.1.
  bool hasBody = status >= 200 && status != 204 && status != 304;
  if (!contentType.empty()) {
    r.headers.emplace_back("Content-Type", std::string(contentType));
  } else if (hasBody && !body.empty()) {
    r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  }
  if (hasBody) r.body = std::string(body);
  r.headOnly = forward.head;
  return r;
}

HttpResponse ipndUnavailable(const ForwardRequest& forward, const Policy& policy, std::string_view reason) {
  HttpResponse r = localApiError(
      policy, 503, "tailnetd: ipnd did not answer (" + std::string(reason) + "); is tailnetd running?");
  r.headOnly = forward.head;
  return r;
}

HttpResponse streamHead(const Policy& policy) {
  HttpResponse r;
  addLocalApiHeaders(r, policy);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

}  // namespace tnet::apid
