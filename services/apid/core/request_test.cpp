// decideRequest against Go tailscaled's answers, one test per status-code path.
#include "services/apid/core/request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "services/apid/core/limits.h"
#include "services/apid/core/watch_mask.h"

namespace tnet::apid {
namespace {

const Policy POLICY{1000, "0.1.0-test"};
const Caller ROOT{0, 0, 42};
const Caller OWNER{1000, 1000, 43};
const Caller OTHER{1001, 1001, 44};

struct Req {
  std::string method = "GET";
  std::string target = "/localapi/v0/status";
  unsigned version = 11;
  std::vector<std::pair<std::string, std::string>> headers = {{"Host", "local-tailscaled.sock"}};
  std::string body;
};

Decision decide(const Req& r, const Caller& c = ROOT) {
  std::vector<HeaderField> h;
  for (auto& [n, v] : r.headers) h.push_back({n, v});
  HttpRequest req{r.method, r.target, r.version, h, r.body};
  return decideRequest(req, c, POLICY);
}

HttpResponse answer(const Decision& d) {
  EXPECT_TRUE(std::holds_alternative<HttpResponse>(d)) << "expected a local answer";
  return std::holds_alternative<HttpResponse>(d) ? std::get<HttpResponse>(d) : HttpResponse{};
}

ForwardRequest forwarded(const Decision& d) {
  EXPECT_TRUE(std::holds_alternative<ForwardRequest>(d))
      << "expected a forward, got status "
      << (std::holds_alternative<HttpResponse>(d) ? std::get<HttpResponse>(d).status : 0) << " "
      << (std::holds_alternative<HttpResponse>(d) ? std::get<HttpResponse>(d).body : "");
  return std::holds_alternative<ForwardRequest>(d) ? std::get<ForwardRequest>(d) : ForwardRequest{};
}

std::string header(const HttpResponse& r, std::string_view name) {
  for (auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

Req with(std::string method, std::string target, std::string body = "") {
  Req r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

// ---- forwarding ------------------------------------------------------------------------------

TEST(Request, StatusForwardsWithCallerIdentity) {
  Req r = with("GET", "/localapi/v0/status?peers=false");
  ForwardRequest f = forwarded(decide(r, OTHER));
  EXPECT_EQ(f.method, "GET");
  EXPECT_EQ(f.path, "/localapi/v0/status");
  EXPECT_EQ(f.query, "peers=false");
  EXPECT_EQ(f.callerUid, 1001u);
  EXPECT_EQ(f.callerPid, 44u);
  EXPECT_FALSE(f.callerPrivileged);
  EXPECT_FALSE(f.needsWrite);
  EXPECT_FALSE(f.streaming);
  EXPECT_FALSE(f.head);
}

TEST(Request, PrivilegeIsRootOrOwner) {
  EXPECT_TRUE(forwarded(decide(with("GET", "/localapi/v0/prefs"), ROOT)).callerPrivileged);
  EXPECT_TRUE(forwarded(decide(with("GET", "/localapi/v0/prefs"), OWNER)).callerPrivileged);
  EXPECT_FALSE(forwarded(decide(with("GET", "/localapi/v0/prefs"), OTHER)).callerPrivileged);
}

TEST(Request, WritesAreForwardedWithNeedsWriteSoIpndCanCheckTheOperator) {
  // An unprivileged caller may be Prefs.OperatorUser, which only ipnd knows.
  ForwardRequest f = forwarded(
      decide(with("PATCH", "/localapi/v0/prefs", R"({"WantRunning":false,"WantRunningSet":true})"), OTHER));
  EXPECT_TRUE(f.needsWrite);
  EXPECT_FALSE(f.callerPrivileged);
  EXPECT_EQ(f.body, R"({"WantRunning":false,"WantRunningSet":true})");
  for (const char* p : {"/localapi/v0/start", "/localapi/v0/check-prefs"}) {
    EXPECT_TRUE(forwarded(decide(with("POST", p, "{}"), OTHER)).needsWrite) << p;
  }
  for (const char* p : {"/localapi/v0/login-interactive", "/localapi/v0/logout"}) {
    EXPECT_TRUE(forwarded(decide(with("POST", p), ROOT)).needsWrite) << p;
  }
  EXPECT_FALSE(forwarded(decide(with("GET", "/localapi/v0/prefs"), OTHER)).needsWrite);
}

TEST(Request, StatusAcceptsAnyMethodLikeGo) {
  EXPECT_EQ(forwarded(decide(with("POST", "/localapi/v0/status"))).method, "POST");
  EXPECT_EQ(forwarded(decide(with("DELETE", "/localapi/v0/status"))).method, "DELETE");
}

TEST(Request, HeadIsForwardedAndMarked) {
  ForwardRequest f = forwarded(decide(with("HEAD", "/localapi/v0/prefs")));
  EXPECT_TRUE(f.head);
  HttpResponse r = responseFromIpnd(f, POLICY, 200, "application/json", "{}");
  EXPECT_TRUE(r.headOnly);
  EXPECT_EQ(r.body, "{}");  // kept for Content-Length; the app sends no body bytes
}

TEST(Request, WatchIpnBusStreamsWithParsedMask) {
  ForwardRequest f = forwarded(decide(with("GET", "/localapi/v0/watch-ipn-bus?mask=6"), OTHER));
  EXPECT_TRUE(f.streaming);
  EXPECT_EQ(f.watchMask, 6u);
  EXPECT_EQ(f.query, "mask=6");
  EXPECT_FALSE(f.needsWrite);
  EXPECT_EQ(forwarded(decide(with("GET", "/localapi/v0/watch-ipn-bus"))).watchMask, 0u);
}

TEST(Request, AbsoluteFormTargetWithLocalApiHost) {
  ForwardRequest f = forwarded(decide(with("GET", "http://local-tailscaled.sock/localapi/v0/status?x=1")));
  EXPECT_EQ(f.path, "/localapi/v0/status");
  EXPECT_EQ(f.query, "x=1");
}

TEST(Request, PercentEncodedPathRoutesAsGo) {
  EXPECT_EQ(forwarded(decide(with("GET", "/localapi/v0/st%61tus"))).path, "/localapi/v0/status");
}

TEST(Request, EmptyHostIsAcceptedAsGo) {
  Req r;
  r.headers = {{"Host", ""}};
  forwarded(decide(r));
  Req r10;
  r10.version = 10;
  r10.headers = {};
  forwarded(decide(r10));  // HTTP/1.0 may omit Host; Go treats it as ""
}

// ---- 400 -------------------------------------------------------------------------------------

TEST(Request, MissingHostOnHttp11Is400) {
  Req r;
  r.headers = {};
  HttpResponse a = answer(decide(r));
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body, "400 Bad Request: missing required Host header");
  EXPECT_TRUE(a.close);
}

TEST(Request, DuplicateHostIs400) {
  Req r;
  r.headers = {{"Host", "local-tailscaled.sock"}, {"host", "local-tailscaled.sock"}};
  EXPECT_EQ(answer(decide(r)).body, "400 Bad Request: too many Host headers");
}

TEST(Request, MalformedHostIs400) {
  Req r;
  r.headers = {{"Host", "local tailscaled"}};
  EXPECT_EQ(answer(decide(r)).body, "400 Bad Request: malformed Host header");
}

TEST(Request, MalformedTargetIs400) {
  for (const char* t : {"*", "status", "/localapi/v0/%zz"}) {
    HttpResponse a = answer(decide(with("GET", t)));
    EXPECT_EQ(a.status, 400) << t;
    EXPECT_EQ(a.body, "400 Bad Request") << t;
  }
}

TEST(Request, BadReasonHeaderIs400) {
  Req r;
  r.headers.emplace_back("X-Tailscale-Reason", "!!!");
  HttpResponse a = answer(decide(r));
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body, "invalid reason header\n");
  Req ok;
  ok.headers.emplace_back("X-Tailscale-Reason", "dGVzdA==");
  forwarded(decide(ok));
}

TEST(Request, WrongMethodOnStartLoginLogoutIs400WantPost) {
  for (const char* p : {"/localapi/v0/start", "/localapi/v0/login-interactive", "/localapi/v0/logout"}) {
    HttpResponse a = answer(decide(with("GET", p)));
    EXPECT_EQ(a.status, 400) << p;
    EXPECT_EQ(a.body, "want POST\n") << p;
    EXPECT_EQ(header(a, "Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(header(a, "Tailscale-Version"), "0.1.0-test");
  }
}

TEST(Request, UnprivilegedWrongMethodOnWriteOnlyEndpointGoesToIpnd) {
  // Go answers a non-writer 403 before looking at the method; only ipnd knows whether this uid
  // is the operator (then it answers the method error itself).
  for (const char* p : {"/localapi/v0/start", "/localapi/v0/login-interactive", "/localapi/v0/logout",
                        "/localapi/v0/check-prefs"}) {
    ForwardRequest f = forwarded(decide(with("GET", p), OTHER));
    EXPECT_TRUE(f.needsWrite) << p;
    EXPECT_FALSE(f.callerPrivileged) << p;
    EXPECT_EQ(f.method, "GET") << p;
  }
  // prefs checks the method first in Go: a wrong one is 405 for everyone.
  EXPECT_EQ(answer(decide(with("POST", "/localapi/v0/prefs"), OTHER)).status, 405);
  EXPECT_EQ(answer(decide(with("PUT", "/localapi/v0/tailnetd/isolation"), OTHER)).status, 405);
}

TEST(Request, UnprivilegedBadJsonOnWritesGoesToIpnd) {
  ForwardRequest f = forwarded(decide(with("PATCH", "/localapi/v0/prefs", "{bad"), OTHER));
  EXPECT_TRUE(f.needsWrite);
  EXPECT_EQ(f.body, "{bad");
  EXPECT_TRUE(forwarded(decide(with("POST", "/localapi/v0/start", "[]"), OTHER)).needsWrite);
  EXPECT_TRUE(forwarded(decide(with("POST", "/localapi/v0/check-prefs", ""), OTHER)).needsWrite);
  // The owner gets apid's own 400 at once.
  EXPECT_EQ(answer(decide(with("PATCH", "/localapi/v0/prefs", "{bad"), OWNER)).status, 400);
}

TEST(Request, BadJsonBodiesAre400WithGoDecoderText) {
  HttpResponse a = answer(decide(with("PATCH", "/localapi/v0/prefs", "{\"WantRunning\":tru")));
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body, "unexpected EOF\n");
  EXPECT_EQ(answer(decide(with("PATCH", "/localapi/v0/prefs", "nope"))).body,
            "invalid character 'o' in literal null (expecting 'u')\n");
  EXPECT_EQ(answer(decide(with("POST", "/localapi/v0/start", ""))).body, "EOF\n");
  EXPECT_EQ(answer(decide(with("POST", "/localapi/v0/start", "[1]"))).body,
            "json: cannot unmarshal array into Go value of type ipn.Options\n");
  EXPECT_EQ(answer(decide(with("POST", "/localapi/v0/start", "{x"))).body,
            "invalid character 'x' looking for beginning of object key string\n");
}

TEST(Request, CheckPrefsBadJsonIsGoFixedText) {
  for (const char* body : {"", "{", "[]", "garbage"}) {
    HttpResponse a = answer(decide(with("POST", "/localapi/v0/check-prefs", body)));
    EXPECT_EQ(a.status, 400) << body;
    EXPECT_EQ(a.body, "invalid JSON body\n") << body;
  }
}

TEST(Request, BodiesOfUncheckedEndpointsPassThrough) {
  EXPECT_EQ(forwarded(decide(with("POST", "/localapi/v0/logout", "not json"))).body, "not json");
  EXPECT_EQ(forwarded(decide(with("POST", "/localapi/v0/start", "{} trailing"))).body,
            "{} trailing");  // Go's Decoder reads only the first value
}

TEST(Request, BadWatchMaskIs400) {
  HttpResponse a = answer(decide(with("GET", "/localapi/v0/watch-ipn-bus?mask=x")));
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body, "bad mask\n");
  EXPECT_EQ(answer(decide(with("GET", "/localapi/v0/watch-ipn-bus?mask=65536"))).body,
            "NotifyInProcessNoDisconnect is only valid for in-process IPN bus subscribers\n");
  EXPECT_EQ(answer(decide(with("GET", "/localapi/v0/watch-ipn-bus?mask=" +
                                          std::to_string(NOTIFY_RATE_LIMIT | NOTIFY_NO_NETMAP))))
                .status,
            400);
}

// ---- 403 -------------------------------------------------------------------------------------

TEST(Request, WrongHostIs403WithoutLocalApiHeaders) {
  for (const char* host : {"localhost", "localhost:80", "127.0.0.1:41112", "example.com",
                           "local-tailscaled.sock:80", "LOCAL-TAILSCALED.SOCK"}) {
    Req r;
    r.headers = {{"Host", host}};
    HttpResponse a = answer(decide(r));
    EXPECT_EQ(a.status, 403) << host;
    EXPECT_EQ(a.body, "invalid localapi request\n") << host;
    EXPECT_EQ(header(a, "Tailscale-Version"), "<absent>") << host;
    EXPECT_EQ(header(a, "X-Content-Type-Options"), "nosniff");
  }
}

TEST(Request, AbsoluteFormWithForeignHostIs403) {
  Req r = with("GET", "http://evil.example/localapi/v0/status");
  EXPECT_EQ(answer(decide(r)).status, 403);
}

TEST(Request, OriginOrRefererIs403) {
  for (const char* h : {"Origin", "Referer", "origin", "REFERER"}) {
    Req r;
    r.headers.emplace_back(h, "http://evil.example");
    HttpResponse a = answer(decide(r));
    EXPECT_EQ(a.status, 403) << h;
    EXPECT_EQ(a.body, "invalid localapi request\n");
  }
  Req empty;  // Go checks for a non-empty value
  empty.headers.emplace_back("Origin", "");
  forwarded(decide(empty));
}

TEST(Request, OriginCheckAppliesOnlyUnderLocalApi) {
  Req r = with("GET", "/");
  r.headers.emplace_back("Origin", "http://evil.example");
  EXPECT_EQ(answer(decide(r)).status, 200);  // ipnserver's root page, as Go
}

// ---- 404 / 405 -------------------------------------------------------------------------------

TEST(Request, UnknownLocalApiPathIs404WithLocalApiHeaders) {
  for (const char* p : {"/localapi/v0/nope", "/localapi/v0/", "/localapi/v1/status",
                        "/localapi/v0/status/extra", "/localapi/"}) {
    HttpResponse a = answer(decide(with("GET", p)));
    EXPECT_EQ(a.status, 404) << p;
    EXPECT_EQ(a.body, "404 page not found\n") << p;
    EXPECT_EQ(header(a, "Tailscale-Version"), "0.1.0-test") << p;
    EXPECT_EQ(header(a, "Tailscale-Cap"), std::to_string(TAILSCALE_CAP));
  }
}

TEST(Request, OtherPathsAre404WithoutLocalApiHeaders) {
  HttpResponse a = answer(decide(with("GET", "/metrics")));
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.body, "404 page not found\n");
  EXPECT_EQ(header(a, "Tailscale-Version"), "<absent>");
}

TEST(Request, RootPageIsHtml) {
  HttpResponse a = answer(decide(with("GET", "/")));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(header(a, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(a.body.find("<html>"), std::string::npos);
}

TEST(Request, WrongMethodOnPrefsAndCheckPrefsIs405) {
  for (auto [m, p] : {std::pair{"POST", "/localapi/v0/prefs"},
                      {"PUT", "/localapi/v0/prefs"},
                      {"GET", "/localapi/v0/check-prefs"}}) {
    HttpResponse a = answer(decide(with(m, p)));
    EXPECT_EQ(a.status, 405) << m << p;
    EXPECT_EQ(a.body, "unsupported method\n");
  }
  EXPECT_EQ(answer(decide(with("POST", "/localapi/v0/tailnetd/isolation"))).status, 405);
}

TEST(Request, ConnectIs405BadMethodForPlatform) {
  HttpResponse a = answer(decide(with("CONNECT", "/localapi/v0/status")));
  EXPECT_EQ(a.status, 405);
  EXPECT_EQ(a.body, "bad method for platform\n");
  Req authority = with("CONNECT", "local-tailscaled.sock:443");  // authority form, no Host
  authority.headers = {};
  EXPECT_EQ(answer(decide(authority)).status, 405);
}

// ---- responses -------------------------------------------------------------------------------

TEST(Response, IpndReplyCarriesGoHeaders) {
  ForwardRequest f = forwarded(decide(with("GET", "/localapi/v0/status")));
  HttpResponse r = responseFromIpnd(f, POLICY, 200, "application/json", "{\n\t\"Version\": \"x\"\n}\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
  EXPECT_EQ(header(r, "Tailscale-Version"), "0.1.0-test");
  EXPECT_EQ(header(r, "Tailscale-Cap"), "116");
  EXPECT_EQ(header(r, "X-Frame-Options"), "DENY");
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_NE(header(r, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_FALSE(r.close);
}

TEST(Response, NoContentHasNoBody) {
  ForwardRequest f = forwarded(decide(with("POST", "/localapi/v0/logout")));
  HttpResponse r = responseFromIpnd(f, POLICY, 204, "", "ignored");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(header(r, "Content-Type"), "<absent>");
}

TEST(Response, IpndDenialPassesThrough) {
  ForwardRequest f = forwarded(decide(with("POST", "/localapi/v0/logout"), OTHER));
  HttpResponse r = responseFromIpnd(f, POLICY, 403, "text/plain; charset=utf-8", "logout access denied\n");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "logout access denied\n");
}

TEST(Response, MissingContentTypeDefaultsToText) {
  ForwardRequest f = forwarded(decide(with("GET", "/localapi/v0/status")));
  EXPECT_EQ(header(responseFromIpnd(f, POLICY, 500, "", "boom\n"), "Content-Type"),
            "text/plain; charset=utf-8");
}

TEST(Response, InvalidIpndStatusIs502) {
  ForwardRequest f = forwarded(decide(with("GET", "/localapi/v0/status")));
  EXPECT_EQ(responseFromIpnd(f, POLICY, 0, "", "").status, 502);
  EXPECT_EQ(responseFromIpnd(f, POLICY, 700, "", "").status, 502);
  EXPECT_EQ(responseFromIpnd(f, POLICY, 200, "text/plain\r\nSet-Cookie: x", "").status, 502);
  EXPECT_EQ(responseFromIpnd(f, POLICY, 200, "application/json; charset=utf-8", "{}").status, 200);
}

TEST(Response, IpndUnavailableIs503WithClearText) {
  ForwardRequest f = forwarded(decide(with("GET", "/localapi/v0/status")));
  HttpResponse r = ipndUnavailable(f, POLICY, "no reply within 10000 ms");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("ipnd did not answer (no reply within 10000 ms)"), std::string::npos);
  EXPECT_EQ(header(r, "Tailscale-Version"), "0.1.0-test");
}

TEST(Response, ReadErrorsAsGoServer) {
  EXPECT_EQ(headerTooLarge().status, 431);
  EXPECT_EQ(headerTooLarge().body, "431 Request Header Fields Too Large");
  EXPECT_TRUE(headerTooLarge().close);
  EXPECT_EQ(bodyTooLarge().status, 413);
  EXPECT_TRUE(bodyTooLarge().close);
  EXPECT_EQ(badRequest("").body, "400 Bad Request");
  EXPECT_EQ(badRequest("x").body, "400 Bad Request: x");
}

TEST(Response, StreamHeadIsJson) {
  HttpResponse r = streamHead(POLICY);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
  EXPECT_EQ(header(r, "Tailscale-Version"), "0.1.0-test");
}

TEST(Request, HeaderLookupIsCaseInsensitiveFirstValue) {
  std::vector<HeaderField> h{{"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(headerValue(h, "x-A"), "1");
  EXPECT_EQ(headerCount(h, "X-a"), 2u);
  EXPECT_EQ(headerValue(h, "missing"), "");
}

}  // namespace
}  // namespace tnet::apid
