// ControlServer's admin operations: auth keys, approving/expiring/deleting nodes and logins,
// the packet filter, synthetic peers, pings, and the JSON views of nodes and pending logins.
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

// A fresh Curve25519 public key (synthetic peers never use the private half).
crypto::Key32 curvePublicKey() {
  crypto::Key32 priv{}, pub{};
  crypto::generatePrivateKey(priv);
  crypto::x25519Base(pub, priv);
  std::fill(priv.begin(), priv.end(), 0);
  return pub;
}

// Machine and disco keys of synthetic peers are never used for a handshake: random bytes are
// enough and cost nothing, where a scalar multiplication per key dominated the 10k-peer setup.
crypto::Key32 randomKeyBytes() {
  crypto::Key32 k{};
  crypto::randomBytes(k);
  return k;
}

}  // namespace

std::string ControlServer::createPreAuthKey(bool reusable, bool ephemeral) {
  std::string k = "tskey-auth-k" + randomHex(6) + "CNTRL-" + randomHex(16);
  keys_[k] = PreAuthKey{reusable, ephemeral, false};
  ++stateVersion_;
  return k;
}

Result<void> ControlServer::approveNode(int64_t id) {
  ++stateVersion_;  // may change the tailnet: worth saving
  NodeEntry* e = entryById(id);
  if (e == nullptr) return Error::invalid("no such node");
  if (!e->rec.machineAuthorized) {
    e->rec.machineAuthorized = true;
    e->peerJson.clear();
    announceJoin(*e);
    // The node now sees the tailnet: it gets the whole map again.
    if (auto s = sessionByNode_.find(id); s != sessionByNode_.end()) {
      sendTo(s->second, std::make_shared<const std::string>(fullMapJson(*e)));
    }
  }
  flush();
  return {};
}

Result<void> ControlServer::expireNode(int64_t id) {
  ++stateVersion_;  // may change the tailnet: worth saving
  NodeEntry* e = entryById(id);
  if (e == nullptr) return Error::invalid("no such node");
  int64_t past = opts_.wallNow() - 60;
  e->rec.keyExpiry = past;
  e->peerJson.clear();
  if (e->rec.machineAuthorized) {
    PeerChange c;
    c.nodeId = id;
    c.keyExpiry = past;
    MapResponseParts p;
    p.peersChangedPatch.push_back(peerChangeJson(c));
    broadcast(id, encodeMapResponse(p));
  }
  selfChanged(*e);
  flush();
  return {};
}

ipn::OrderedJson ControlServer::packetFilterJson() const {
  return packetFilter_ ? *packetFilter_ : packetFilterAllowAllJson();
}

void ControlServer::setPacketFilter(std::optional<ipn::OrderedJson> rules) {
  ++stateVersion_;  // worth saving
  packetFilter_ = std::move(rules);
  // Go's client: a non-null PacketFilter replaces the whole base filter (an empty one denies
  // everything). Unauthorized nodes get it too: they keep it for when they are approved.
  MapResponseParts p;
  p.packetFilter = packetFilterJson();
  auto shared = std::make_shared<const std::string>(encodeMapResponse(p));
  for (const auto& [sid, s] : sessions_) sendTo(sid, shared);
  flush();
}

Result<void> ControlServer::deleteNode(int64_t id) {
  ++stateVersion_;  // may change the tailnet: worth saving
  if (entryById(id) == nullptr) return Error::invalid("no such node");
  removeNode(id);
  flush();
  return {};
}

Result<void> ControlServer::approveLogin(std::string_view loginIdOrUrl) {
  ++stateVersion_;  // may change the tailnet: worth saving
  std::string id = loginIdOf(loginIdOrUrl);
  auto it = logins_.find(id);
  if (it == logins_.end()) return Error::invalid("no such login");
  it->second.approved = true;
  // Answer every follow-up waiting on it (normally exactly one); the login is then used up.
  bool answered = false;
  for (auto w = waiters_.begin(); w != waiters_.end();) {
    if (w->second.loginId == id) {
      replies_.emplace_back(std::move(w->second.reply), completeLogin(it->second));
      answered = true;
      w = waiters_.erase(w);
    } else {
      ++w;
    }
  }
  if (answered) logins_.erase(it);
  flush();
  return {};
}

Result<void> ControlServer::addSyntheticPeers(size_t count) {
  ++stateVersion_;  // may change the tailnet: worth saving
  size_t existing = 0;
  for (const auto& [id, e] : nodes_) existing += e.rec.synthetic ? 1 : 0;
  if (existing + count > MAX_SYNTHETIC_PEERS) {
    return Error::invalid("at most " + std::to_string(MAX_SYNTHETIC_PEERS) + " synthetic peers");
  }
  MapResponseParts p;
  std::vector<int64_t> added;
  for (size_t i = 0; i < count; ++i) {
    ++syntheticSerial_;
    std::string hostname = "synthetic-" + std::to_string(syntheticSerial_);
    StoredHostinfo hi;
    hi.hostname = hostname;
    hi.json = R"({"IPNVersion":"testcontrol-synthetic","OS":"linux","Hostname":)" +
              ipn::goJsonString(hostname) + "}";
    NodeEntry* e = createNode(key::NodePublic(curvePublicKey()), key::MachinePublic(randomKeyBytes()), hi,
                              ipn::CAPABILITY_VERSION, false, true, true);
    if (e == nullptr) return Error::overloaded("address pool exhausted");
    e->rec.discoKey = key::DiscoPublic(randomKeyBytes());
    // Loopback only: a client that tries these endpoints sends nothing off the machine.
    ipn::IpAddrPort ep;
    ep.addr.bytes[0] = 127;
    ep.addr.bytes[3] = 1;
    ep.port = uint16_t(20000 + syntheticSerial_ % 40000);
    e->rec.endpoints.push_back(ep);
    if (opts_.derp) e->rec.homeDerp = DERP_REGION_ID;
    added.push_back(e->rec.id);
  }
  for (int64_t id : added) p.peersChanged.push_back(&peerJson(*entryById(id)));
  if (!added.empty()) {
    p.userProfiles.push_back(userProfileJson(user_));
    broadcast(0, encodeMapResponse(p));
  }
  flush();
  return {};
}

size_t ControlServer::removeSyntheticPeers(size_t count) {
  ++stateVersion_;  // may change the tailnet: worth saving
  std::vector<int64_t> ids;
  for (auto it = nodes_.rbegin(); it != nodes_.rend() && ids.size() < count; ++it) {
    if (it->second.rec.synthetic) ids.push_back(it->first);
  }
  for (int64_t id : ids) {
    const NodeRecord& n = nodes_.at(id).rec;
    labels_.erase(n.name.substr(0, n.name.find('.')));
    byKey_.erase(n.nodeKey);
    nodes_.erase(id);
  }
  if (!ids.empty()) {
    std::sort(ids.begin(), ids.end());
    MapResponseParts p;
    p.peersRemoved = ids;
    broadcast(0, encodeMapResponse(p));
  }
  flush();
  return ids.size();
}

Result<std::string> ControlServer::sendPing(int64_t id, bool overNoise) {
  if (entryById(id) == nullptr) return Error::invalid("no such node");
  auto s = sessionByNode_.find(id);
  if (s == sessionByNode_.end()) return Error::failed("node has no map stream");
  if (pings_.size() >= MAX_PENDING_LOGINS) pings_.erase(pings_.begin());
  std::string token = randomHex(10);
  pings_[token] = Ping{id, overNoise, 0, false};
  OrderedJson pr = OrderedJson::object();
  pr["URL"] = opts_.baseUrl + "/ping/" + token;
  if (overNoise) pr["URLIsNoise"] = true;
  pr["Log"] = true;
  sendTo(s->second, std::make_shared<const std::string>("{\"PingRequest\":" + ipn::goMarshal(pr) + "}"));
  flush();
  return token;
}

bool ControlServer::answerPing(std::string_view token, bool overNoise) {
  auto it = pings_.find(std::string(token));
  if (it == pings_.end()) return false;
  ++it->second.answers;
  it->second.answeredOverNoise = it->second.answeredOverNoise || overNoise;
  return true;
}

OrderedJson ControlServer::nodesJson() const {
  OrderedJson a = OrderedJson::array();
  for (const auto& [id, e] : nodes_) {
    const NodeRecord& n = e.rec;
    OrderedJson j = OrderedJson::object();
    j["id"] = n.id;
    j["stableId"] = n.stableId;
    j["nodeKey"] = n.nodeKey.toString();
    j["machineKey"] = n.machineKey.toString();
    j["discoKey"] = n.discoKey.toString();
    j["name"] = n.name.substr(0, n.name.find('.'));
    j["fqdn"] = n.name;
    j["hostname"] = n.hostinfo ? n.hostinfo->hostname : "";
    j["addresses"] = OrderedJson::array({n.addresses.v4.addr.toString(), n.addresses.v6.addr.toString()});
    OrderedJson eps = OrderedJson::array();
    for (const auto& ep : n.endpoints) eps.push_back(ep.toString());
    j["endpoints"] = std::move(eps);
    j["homeDerp"] = n.homeDerp;
    j["online"] = n.online;
    j["machineAuthorized"] = n.machineAuthorized;
    j["lastSeen"] = n.lastSeen ? OrderedJson(controld::formatGoTime(n.lastSeen)) : OrderedJson();
    j["keyExpiry"] = n.keyExpiry ? OrderedJson(controld::formatGoTime(n.keyExpiry)) : OrderedJson();
    j["keyExpired"] = n.keyExpired(opts_.wallNow());
    j["ephemeral"] = n.ephemeral;
    j["synthetic"] = n.synthetic;
    j["created"] = controld::formatGoTime(n.created);
    a.push_back(std::move(j));
  }
  return a;
}

OrderedJson ControlServer::pendingLoginsJson() const {
  OrderedJson a = OrderedJson::array();
  for (const auto& [id, l] : logins_) {
    OrderedJson j = OrderedJson::object();
    j["id"] = id;
    j["url"] = opts_.baseUrl + "/auth/" + id;
    j["nodeKey"] = l.nodeKey.toString();
    j["hostname"] = l.hostinfo ? l.hostinfo->hostname : "";
    j["approved"] = l.approved;
    j["waiting"] =
        std::any_of(waiters_.begin(), waiters_.end(), [&](const auto& w) { return w.second.loginId == id; });
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace tnet::testcontrol
