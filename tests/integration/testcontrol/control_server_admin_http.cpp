// ControlServer's admin HTTP API (/admin/...): routes a request to the admin operations and
// answers with JSON.
#include <algorithm>
#include <cassert>
#include <cstdio>

#include "libs/base/bytes.h"
#include "libs/crypto/crypto.h"
#include "libs/ipn/capver.h"
#include "services/controld/core/go_time.h"
#include "tests/integration/testcontrol/control_server.h"
#include "tests/integration/testcontrol/control_server_helpers.h"
#include "tests/integration/testcontrol/filter_rules.h"

namespace tnet::testcontrol {
namespace {

using ipn::OrderedJson;

OrderedJson jsonError(std::string_view message) {
  return {{"error", message}};
}

HttpReply jsonReply(int status, const OrderedJson& j) {
  return {status, "application/json", ipn::goMarshal(j) + "\n"};
}

}  // namespace

HttpReply ControlServer::handleAdmin(std::string_view method, std::string_view target,
                                     std::string_view body) {
  std::string_view path = target.substr(0, target.find('?'));
  auto segments = [&] {
    std::vector<std::string_view> out;
    std::string_view rest = path;
    while (!rest.empty()) {
      if (rest.front() == '/') {
        rest.remove_prefix(1);
        continue;
      }
      auto slash = rest.find('/');
      out.push_back(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    return out;
  }();
  auto methodNotAllowed = [] { return jsonReply(405, jsonError("method not allowed")); };
  auto fromResult = [](const Result<void>& r) {
    if (r) return jsonReply(200, {{"ok", true}});
    return jsonReply(r.error().kind == ErrorKind::INVALID ? 404 : 400, jsonError(r.error().message));
  };
  auto parseId = [](std::string_view s) -> std::optional<int64_t> {
    int64_t v = 0;
    if (s.empty() || s.size() > 18) return std::nullopt;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  auto bodyObject = [&]() -> Result<ipn::Json> {
    if (body.empty()) return ipn::Json::object();
    TNET_TRY(ipn::Json j, ipn::parseJson(body));
    if (!j.is_object()) return Error::invalid("body must be a JSON object");
    return j;
  };

  // GET <AuthURL>: what a user's browser does; approves the login.
  if (segments.size() == 2 && segments[0] == "auth") {
    if (method != "GET" && method != "POST") return methodNotAllowed();
    auto r = approveLogin(segments[1]);
    if (!r) return httpError(404, "unknown or expired login");
    return {200, "text/html; charset=utf-8",
            "<html><body>Login approved. You can close this page.</body></html>\n"};
  }
  // A PingRequest's URL fetched over plain HTTP (URLIsNoise false): Go's client sends HEAD.
  if (segments.size() == 2 && segments[0] == "ping") {
    if (!answerPing(segments[1], false)) return httpError(404, "404 page not found");
    return {200, "", ""};
  }
  if (segments.empty() || segments[0] != "admin") return httpError(404, "404 page not found");
  if (segments.size() == 4 && segments[1] == "nodes" && segments[3] == "ping") {
    if (method != "POST") return methodNotAllowed();
    auto id = parseId(segments[2]);
    if (!id) return jsonReply(400, jsonError("bad node id"));
    auto j = bodyObject();
    if (!j) return jsonReply(400, jsonError(j.error().message));
    bool noise = true;
    if (const ipn::Json* v = goField(*j, "noise")) {
      if (auto r = ipn::readBool(*v, noise, "PingRequest", "noise"); !r)
        return jsonReply(400, jsonError(r.error().message));
    }
    auto token = sendPing(*id, noise);
    if (!token)
      return jsonReply(token.error().kind == ErrorKind::INVALID ? 404 : 409,
                       jsonError(token.error().message));
    return jsonReply(200, {{"token", *token}, {"url", opts_.baseUrl + "/ping/" + *token}});
  }
  if (segments.size() == 3 && segments[1] == "pings") {
    if (method != "GET") return methodNotAllowed();
    auto it = pings_.find(std::string(segments[2]));
    if (it == pings_.end()) return jsonReply(404, jsonError("no such ping"));
    return jsonReply(200, {{"nodeId", it->second.nodeId},
                           {"noise", it->second.overNoise},
                           {"answers", it->second.answers},
                           {"answeredOverNoise", it->second.answeredOverNoise}});
  }

  if (segments.size() == 2 && segments[1] == "keys") {
    if (method != "POST") return methodNotAllowed();
    auto j = bodyObject();
    if (!j) return jsonReply(400, jsonError(j.error().message));
    bool reusable = false, ephemeral = false;
    if (const ipn::Json* v = goField(*j, "reusable")) {
      if (auto r = ipn::readBool(*v, reusable, "KeyRequest", "reusable"); !r)
        return jsonReply(400, jsonError(r.error().message));
    }
    if (const ipn::Json* v = goField(*j, "ephemeral")) {
      if (auto r = ipn::readBool(*v, ephemeral, "KeyRequest", "ephemeral"); !r)
        return jsonReply(400, jsonError(r.error().message));
    }
    return jsonReply(
        200,
        {{"key", createPreAuthKey(reusable, ephemeral)}, {"reusable", reusable}, {"ephemeral", ephemeral}});
  }
  if (segments.size() == 2 && segments[1] == "nodes") {
    if (method != "GET") return methodNotAllowed();
    return jsonReply(200, nodesJson());
  }
  if (segments.size() >= 3 && segments[1] == "nodes") {
    auto id = parseId(segments[2]);
    if (!id) return jsonReply(400, jsonError("bad node id"));
    if (segments.size() == 3) {
      if (method != "DELETE") return methodNotAllowed();
      return fromResult(deleteNode(*id));
    }
    if (segments.size() == 4 && (segments[3] == "approve" || segments[3] == "expire")) {
      if (method != "POST") return methodNotAllowed();
      return fromResult(segments[3] == "approve" ? approveNode(*id) : expireNode(*id));
    }
  }
  if (segments.size() == 2 && segments[1] == "auth-urls") {
    if (method != "GET") return methodNotAllowed();
    return jsonReply(200, pendingLoginsJson());
  }
  if (segments.size() == 4 && segments[1] == "auth" && segments[3] == "approve") {
    if (method != "POST") return methodNotAllowed();
    return fromResult(approveLogin(segments[2]));
  }
  if (segments.size() == 2 && segments[1] == "filter") {
    if (method == "GET") return jsonReply(200, packetFilterJson());
    if (method == "DELETE") {
      setPacketFilter(std::nullopt);
      return jsonReply(200, {{"ok", true}, {"rules", 1}});
    }
    if (method != "POST") return methodNotAllowed();
    auto rules = parseFilterRules(body);
    if (!rules) return jsonReply(400, jsonError("bad filter: " + rules.error().message));
    size_t n = rules->size();
    setPacketFilter(std::move(*rules));
    return jsonReply(200, {{"ok", true}, {"rules", n}});
  }
  if (segments.size() == 2 && segments[1] == "synthetic") {
    if (method != "POST") return methodNotAllowed();
    auto j = bodyObject();
    if (!j) return jsonReply(400, jsonError(j.error().message));
    int64_t add = 0, remove = 0;
    if (const ipn::Json* v = goField(*j, "add")) {
      if (auto r = ipn::readInt64(*v, add, 0, MAX_SYNTHETIC_PEERS, "Synthetic", "add", "int"); !r) {
        return jsonReply(400, jsonError(r.error().message));
      }
    }
    if (const ipn::Json* v = goField(*j, "remove")) {
      if (auto r = ipn::readInt64(*v, remove, 0, MAX_SYNTHETIC_PEERS, "Synthetic", "remove", "int"); !r) {
        return jsonReply(400, jsonError(r.error().message));
      }
    }
    if (add > 0) {
      if (auto r = addSyntheticPeers(size_t(add)); !r) return jsonReply(400, jsonError(r.error().message));
    }
    size_t removed = remove > 0 ? removeSyntheticPeers(size_t(remove)) : 0;
    return jsonReply(200, {{"added", add}, {"removed", removed}, {"nodes", nodes_.size()}});
  }
  return httpError(404, "404 page not found");
}

}  // namespace tnet::testcontrol
