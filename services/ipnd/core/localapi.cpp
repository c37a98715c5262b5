// The LocalAPI v0 endpoints ipnd implements, with Go's status codes, bodies and permission
// rules (ipn/localapi/localapi.go). apid owns HTTP; this is everything after routing.
#include "libs/ipn/masked_prefs.h"
#include "libs/ipn/options.h"
#include "services/ipnd/core/backend.h"
#include "services/ipnd/core/peer_query.h"

namespace tnet::ipnd {

using ipn::State;

namespace {

constexpr std::string_view PREFIX = "/localapi/v0/";
constexpr std::string_view TEXT = "text/plain; charset=utf-8";
constexpr std::string_view JSON = "application/json";

// {"Error":"…"} or {} (Go's resJSON, Error omitempty), written by json.Encoder (+ "\n").
std::string resJson(const std::string& error) {
  ipn::OrderedJson o = ipn::OrderedJson::object();
  if (!error.empty()) o["Error"] = error;
  return ipn::goMarshal(o) + "\n";
}

LocalApiResponse noContent() {
  return {204, "", "", 0};
}

// Go's def.Bool / strconv.ParseBool.
std::optional<bool> parseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
  return std::nullopt;
}

}  // namespace

// Go's http.Error: text body with a newline.
LocalApiResponse httpError(uint16_t status, std::string_view msg) {
  return {status, std::string(TEXT), std::string(msg) + "\n", 0};
}

LocalApiResponse jsonBody(uint16_t status, std::string body) {
  return {status, std::string(JSON), std::move(body), 0};
}

// Go's url.Values lookup for a single key (first value), with %-decoding of the value.
std::optional<std::string> queryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    if (k != key) continue;
    std::string_view raw = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    std::string v;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        v += ' ';
      } else if (raw[i] == '%') {
        if (i + 2 >= raw.size()) return std::nullopt;
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        int hi = hex(raw[i + 1]), lo = hex(raw[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        v += char(hi * 16 + lo);
        i += 2;
      } else {
        v += raw[i];
      }
    }
    return v;
  }
  return std::nullopt;
}

LocalApiResponse Backend::handleLocalApi(const LocalApiRequest& req, int64_t nowUnixMs) {
  std::string_view path = req.path;
  if (path.substr(0, PREFIX.size()) != PREFIX) return httpError(404, "404 page not found");
  std::string_view name = path.substr(PREFIX.size());
  // Write permission: root/owner (apid decides), or the configured operator user.
  bool permitWrite = req.callerPrivileged || (!prefs_.operatorUser.empty() && req.callerUserName &&
                                              *req.callerUserName == prefs_.operatorUser);
  if (name == "status") return serveStatus(req);
  if (name == "prefs") return servePrefs(req, permitWrite);
  if (name == "check-prefs") return serveCheckPrefs(req, permitWrite);
  if (name == "start") return serveStart(req, permitWrite);
  if (name == "login-interactive") return serveLoginInteractive(req, permitWrite, nowUnixMs);
  if (name == "logout") return serveLogout(req, permitWrite);
  if (name == "watch-ipn-bus") return serveWatchIpnBus(req);
  if (name == "tailnetd/isolation") return serveIsolation(req);
  if (name == "whois") return serveWhoIs(req, netmap_);
  return httpError(404, "404 page not found");
}

LocalApiResponse Backend::serveStatus(const LocalApiRequest& req) {
  bool peers = true;
  if (auto v = queryValue(req.query, "peers"); v && !v->empty()) {
    peers = parseGoBool(*v).value_or(true);  // Go's def.Bool falls back to the default
  }
  return jsonBody(200, ipn::statusToLocalApiBody(status(peers)));
}

LocalApiResponse Backend::servePrefs(const LocalApiRequest& req, bool permitWrite) {
  if (req.method == "PATCH") {
    if (!permitWrite) return httpError(403, "prefs write access denied");
    auto mp = ipn::parseMaskedPrefs(req.body);
    if (!mp) return httpError(400, mp.error().message);
    auto edited = editPrefs(std::move(*mp));
    if (!edited) return jsonBody(400, resJson(edited.error().message));
  } else if (req.method != "GET" && req.method != "HEAD") {
    return httpError(405, "unsupported method");
  }
  return jsonBody(200, ipn::prefsToString(prefs_, true) + "\n");
}

LocalApiResponse Backend::serveCheckPrefs(const LocalApiRequest& req, bool permitWrite) {
  if (!permitWrite) return httpError(403, "checkprefs access denied");
  if (req.method != "POST") return httpError(405, "unsupported method");
  auto doc = ipn::parseJson(req.body, /*allowTrailing=*/true);
  ipn::Prefs p;
  if (!doc || !ipn::prefsFromJson(*doc, p)) return httpError(400, "invalid JSON body");
  auto ok = checkPrefs(p);
  return jsonBody(200, resJson(ok ? std::string() : ok.error().message));
}

LocalApiResponse Backend::serveStart(const LocalApiRequest& req, bool permitWrite) {
  if (!permitWrite) return httpError(403, "access denied");
  if (req.method != "POST") return httpError(400, "want POST");
  auto opts = ipn::parseOptions(req.body);
  if (!opts) return httpError(400, opts.error().message);
  if (!storeHealthy_) return httpError(500, "cannot start backend when state store is unhealthy");
  auto started = start(std::move(*opts));
  if (!started) return httpError(500, started.error().message);
  return noContent();
}

LocalApiResponse Backend::serveLoginInteractive(const LocalApiRequest& req, bool permitWrite, int64_t now) {
  if (!permitWrite) return httpError(403, "login access denied");
  if (req.method != "POST") return httpError(400, "want POST");
  if (!storeHealthy_) return httpError(500, "cannot log in when state store is unhealthy");
  if (!controlClientStarted_) return httpError(500, "backend not started");
  // An auth URL younger than 7 days minus 1 hour is still valid server-side: show it again.
  constexpr int64_t URL_VALID_MS = (7 * 24 - 1) * 3600 * int64_t(1000);
  if (!authUrl_.empty() && now - authUrlTimeMs_ < URL_VALID_MS) {
    if (validBrowserUrl(authUrl_)) {
      ipn::Notify n = baseNotify();
      n.browseToUrl = authUrl_;
      send(std::move(n));
    }
  } else {
    ccLogin(true);
  }
  return noContent();
}

LocalApiResponse Backend::serveLogout(const LocalApiRequest& req, bool permitWrite) {
  if (!permitWrite) return httpError(403, "logout access denied");
  if (req.method != "POST") return httpError(400, "want POST");
  logout();
  return noContent();
}

LocalApiResponse Backend::serveWatchIpnBus(const LocalApiRequest& req) {
  auto maskText = queryValue(req.query, "mask");
  auto mask = ipn::parseWatchMask(maskText.value_or(""));
  if (!mask) return httpError(400, mask.error().message);
  constexpr uint64_t INITIAL_BITS =
      ipn::NOTIFY_INITIAL_STATE | ipn::NOTIFY_INITIAL_PREFS | ipn::NOTIFY_INITIAL_NET_MAP |
      ipn::NOTIFY_INITIAL_STATUS | ipn::NOTIFY_INITIAL_DRIVE_SHARES |
      ipn::NOTIFY_INITIAL_SUGGESTED_EXIT_NODE | ipn::NOTIFY_INITIAL_CLIENT_VERSION |
      ipn::NOTIFY_SYS_POLICY_CHANGES | ipn::NOTIFY_PEER_WIREGUARD_STATE;
  LocalApiResponse r{200, std::string(JSON), "", notifySeq_};
  if ((*mask & INITIAL_BITS) == 0) return r;  // Go sends no initial message then
  ipn::Notify n = baseNotify();
  if (*mask & ipn::NOTIFY_INITIAL_STATE) {
    n.sessionId = options_.newSessionId ? options_.newSessionId() : std::string();
    n.state = state_;
    if (state_ == State::NEEDS_LOGIN && !authUrl_.empty()) n.browseToUrl = authUrl_;
  }
  if (*mask & ipn::NOTIFY_INITIAL_PREFS) n.prefs = prefs_;
  if (*mask & ipn::NOTIFY_INITIAL_STATUS) n.initialStatus = ipn::statusToJson(status(true));
  if (*mask & ipn::NOTIFY_INITIAL_HEALTH_STATE) n.health = healthWarnings();
  r.body = ipn::notifyToString(n);
  return r;
}

LocalApiResponse Backend::serveIsolation(const LocalApiRequest& req) {
  if (req.method != "GET") return httpError(405, "unsupported method");
  return jsonBody(200, ipn::goMarshal(health_.isolationJson(), true) + "\n");
}

}  // namespace tnet::ipnd
