#include "services/apid/core/endpoints.h"

namespace tnet::apid {
namespace {

// Go: serveStatus and serveWatchIPNBus never look at the method.
constexpr MethodRule ANY_READ[] = {{"*", false}};

// Go: servePrefs — GET/HEAD read, PATCH writes a MaskedPrefs.
constexpr MethodRule PREFS[] = {
    {"GET", false},
    {"HEAD", false},
    {"PATCH", true, BodyCheck::JSON_DECODE, "ipn.MaskedPrefs"},
};

// Go: serveCheckPrefs answers any decode error with "invalid JSON body".
constexpr MethodRule CHECK_PREFS[] = {
    {"POST", true, BodyCheck::JSON_FIXED, "ipn.Prefs", "invalid JSON body"},
};

constexpr MethodRule START[] = {{"POST", true, BodyCheck::JSON_DECODE, "ipn.Options"}};
constexpr MethodRule POST_WRITE[] = {{"POST", true}};
constexpr MethodRule GET_READ[] = {{"GET", false}};
// Go: servePing needs only read access (any LocalAPI caller may ping).
constexpr MethodRule POST_READ[] = {{"POST", false}};

constexpr Endpoint TABLE[] = {
    {"status", ANY_READ, 0, "", "status access denied"},
    {"prefs", PREFS, 405, "unsupported method", "prefs write access denied"},
    {"check-prefs", CHECK_PREFS, 405, "unsupported method", "checkprefs access denied", true},
    {"start", START, 400, "want POST", "access denied", true},
    {"login-interactive", POST_WRITE, 400, "want POST", "login access denied", true},
    {"logout", POST_WRITE, 400, "want POST", "logout access denied", true},
    {"watch-ipn-bus", ANY_READ, 0, "", "watch ipn bus access denied", false, true},
    // Go: serveWhoIs checks read permission only, never the method.
    {"whois", ANY_READ, 0, "", "whois access denied"},
    // Go: servePing checks no permission; its denied text is never sent.
    {"ping", POST_READ, 400, "want POST", "ping access denied"},
    // tailnetd's own: per-service health and isolation facts for `tnet debug isolation`.
    {"tailnetd/isolation", GET_READ, 405, "unsupported method", "isolation access denied"},
    // tailnetd's own: a fresh netcheck report from magicsockd for `tnet netcheck`.
    {"tailnetd/netcheck", GET_READ, 405, "unsupported method", "netcheck access denied"},
};

}  // namespace

std::span<const Endpoint> endpointTable() {
  return TABLE;
}

const Endpoint* findEndpoint(std::string_view path) {
  if (path.substr(0, LOCALAPI_PREFIX.size()) != LOCALAPI_PREFIX) return nullptr;
  std::string_view name = path.substr(LOCALAPI_PREFIX.size());
  for (const Endpoint& e : TABLE) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const MethodRule* findMethod(const Endpoint& e, std::string_view method) {
  for (const MethodRule& r : e.methods) {
    if (r.method == "*" || r.method == method) return &r;
  }
  return nullptr;
}

}  // namespace tnet::apid
