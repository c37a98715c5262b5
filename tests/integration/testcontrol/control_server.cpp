#include "tests/integration/testcontrol/control_server.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "libs/base/bytes.h"
#include "libs/crypto/crypto.h"
#include "libs/ipn/capver.h"
#include "services/controld/core/go_time.h"
#include "tests/integration/testcontrol/filter_rules.h"

namespace tnet::testcontrol {
namespace {

using ipn::OrderedJson;

constexpr size_t MAX_SYNTHETIC_PEERS = 100'000;
// Interactive logins nobody approved are dropped oldest-first past this many, so clients that
// register fresh keys without an auth key cannot grow the server without bound.
constexpr size_t MAX_PENDING_LOGINS = 4096;
constexpr int64_t MAX_LABEL = 63;

std::string randomHex(size_t bytes) {
  Bytes b(bytes);
  crypto::randomBytes(b);
  return hexEncode(b);
}

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

// The "<id>" of an AuthURL "<base>/auth/<id>", a path "/auth/<id>" or a bare id.
std::string loginIdOf(std::string_view s) {
  auto at = s.find("/auth/");
  if (at != std::string_view::npos) s.remove_prefix(at + 6);
  auto end = s.find_first_of("?#/");
  if (end != std::string_view::npos) s = s.substr(0, end);
  return std::string(s);
}

// Go's testcontrol drops link-local IPv6 endpoints and anything with a zone.
bool keepEndpoint(const ipn::IpAddrPort& ep) {
  if (!ep.addr.zone.empty()) return false;
  if (ep.addr.v6 && ep.addr.bytes[0] == 0xfe && (ep.addr.bytes[1] & 0xc0) == 0x80) return false;
  return true;
}

std::string sanitizeLabel(std::string_view hostname) {
  std::string out;
  for (char c : hostname) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
    if (int64_t(out.size()) >= MAX_LABEL) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

OrderedJson jsonError(std::string_view message) {
  return {{"error", message}};
}

HttpReply jsonReply(int status, const OrderedJson& j) {
  return {status, "application/json", ipn::goMarshal(j) + "\n"};
}

}  // namespace

HttpReply httpError(int status, std::string_view message) {
  return {status, "text/plain; charset=utf-8", std::string(message) + "\n"};
}

ControlServer::ControlServer(ControlOptions options) : opts_(std::move(options)) {
  assert(opts_.wallNow && opts_.monoNowMs);
  user_ = {1, "user-1@" + opts_.domain, "User 1"};
}

ControlServer::~ControlServer() = default;

// ---------------------------------------------------------------------------- lookup

ControlServer::NodeEntry* ControlServer::entryById(int64_t id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

ControlServer::NodeEntry* ControlServer::entryByKey(const key::NodePublic& k) {
  auto it = byKey_.find(k);
  return it == byKey_.end() ? nullptr : entryById(it->second);
}

const NodeRecord* ControlServer::nodeById(int64_t id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second.rec;
}

const NodeRecord* ControlServer::nodeByKey(const key::NodePublic& k) const {
  auto it = byKey_.find(k);
  return it == byKey_.end() ? nullptr : nodeById(it->second);
}

// ---------------------------------------------------------------------------- register

HttpReply ControlServer::registerReply(const RegisterReply& r) const {
  return {200, "", registerResponseJson(r)};
}

uint64_t ControlServer::handleRegister(const key::MachinePublic& machine, std::string_view body,
                                       ReplyFn reply) {
  ++stateVersion_;  // may change the tailnet: worth saving
  auto answer = [&](HttpReply r) {
    flush();
    reply(std::move(r));
    return uint64_t(0);
  };
  auto parsed = parseRegisterRequest(body);
  if (!parsed) return answer(httpError(400, "bad register request: " + parsed.error().message));
  ServerRegisterRequest& req = *parsed;
  if (req.version == 0) return answer(httpError(400, "zero Version"));
  if (req.nodeKey.isZero()) return answer(httpError(400, "request has zero node key"));
  int64_t now = opts_.wallNow();

  // Logout: Go's client sends its current node key with an expiry in the past.
  if (req.expiry && *req.expiry <= now) {
    NodeEntry* e = entryByKey(req.nodeKey);
    if (e != nullptr && e->rec.machineKey == machine) removeNode(e->rec.id);
    return answer(registerReply({&user_, false, false, "", ""}));
  }

  // Follow-up of an interactive login: answer once approved.
  if (!req.followup.empty()) {
    std::string id = loginIdOf(req.followup);
    auto it = logins_.find(id);
    if (it == logins_.end() || it->second.nodeKey != req.nodeKey || it->second.machineKey != machine) {
      return answer(registerReply({nullptr, false, false, "", "invalid or expired login URL"}));
    }
    if (it->second.approved) {
      PendingLogin login = it->second;
      logins_.erase(it);
      return answer(completeLogin(login));
    }
    uint64_t w = nextWaiterId_++;
    waiters_[w] = Waiter{id, machine, req.nodeKey, std::move(reply)};
    flush();
    return w;
  }

  if (NodeEntry* e = entryByKey(req.nodeKey)) {
    if (e->rec.machineKey != machine) {
      return answer(registerReply({nullptr, false, false, "", "node key is registered to another machine"}));
    }
    if (e->rec.keyExpired(now))
      return answer(registerReply({&user_, true, e->rec.machineAuthorized, "", ""}));
    e->rec.cap = req.version;
    if (req.hostinfo) applyHostinfo(*e, req.hostinfo);
    return answer(registerReply({&user_, false, e->rec.machineAuthorized, "", ""}));
  }

  // A node key we do not know: a new node, or a rotation of OldNodeKey (same machine).
  NodeEntry* old = req.oldNodeKey.isZero() ? nullptr : entryByKey(req.oldNodeKey);
  if (old != nullptr && old->rec.machineKey != machine) old = nullptr;

  if (req.authKey) {
    auto k = keys_.find(*req.authKey);
    if (k == keys_.end()) return answer(registerReply({nullptr, false, false, "", "invalid authkey"}));
    if (!k->second.reusable && k->second.used) {
      return answer(registerReply({nullptr, false, false, "", "authkey already used"}));
    }
    k->second.used = true;
    if (old != nullptr) {
      rekeyNode(*old, req.nodeKey);
      if (req.hostinfo) applyHostinfo(*old, req.hostinfo);
      return answer(registerReply({&user_, false, old->rec.machineAuthorized, "", ""}));
    }
    NodeEntry* n = createNode(req.nodeKey, machine, req.hostinfo, req.version,
                              k->second.ephemeral || req.ephemeral, !opts_.requireMachineAuth, false);
    if (n == nullptr) return answer(httpError(500, "address pool exhausted"));
    if (n->rec.machineAuthorized) announceJoin(*n);
    return answer(registerReply({&user_, false, n->rec.machineAuthorized, "", ""}));
  }

  // Interactive login. A retry for the same key gets the same URL (Go's client backs off when
  // it sees a URL again, so handing out fresh ones would only make it spin).
  for (const auto& [id, login] : logins_) {
    if (login.nodeKey == req.nodeKey && login.machineKey == machine && !login.approved) {
      return answer(registerReply({&user_, false, false, opts_.baseUrl + "/auth/" + id, ""}));
    }
  }
  if (logins_.size() >= MAX_PENDING_LOGINS) {
    auto oldest = std::min_element(logins_.begin(), logins_.end(), [](const auto& a, const auto& b) {
      return a.second.created < b.second.created;
    });
    logins_.erase(oldest);
  }
  PendingLogin login;
  login.id = randomHex(10);
  login.nodeKey = req.nodeKey;
  login.oldNodeKey = old != nullptr ? req.oldNodeKey : key::NodePublic();
  login.machineKey = machine;
  login.hostinfo = req.hostinfo;
  login.ephemeral = req.ephemeral;
  login.capver = req.version;
  login.created = now;
  std::string url = opts_.baseUrl + "/auth/" + login.id;
  logins_[login.id] = std::move(login);
  return answer(registerReply({&user_, false, false, url, ""}));
}

void ControlServer::cancelRegister(uint64_t waiter) {
  waiters_.erase(waiter);
}

HttpReply ControlServer::completeLogin(const PendingLogin& login) {
  if (NodeEntry* e = entryByKey(login.nodeKey)) {
    return registerReply({&user_, false, e->rec.machineAuthorized, "", ""});
  }
  NodeEntry* old = login.oldNodeKey.isZero() ? nullptr : entryByKey(login.oldNodeKey);
  if (old != nullptr && old->rec.machineKey == login.machineKey) {
    rekeyNode(*old, login.nodeKey);
    if (login.hostinfo) applyHostinfo(*old, login.hostinfo);
    return registerReply({&user_, false, old->rec.machineAuthorized, "", ""});
  }
  NodeEntry* n = createNode(login.nodeKey, login.machineKey, login.hostinfo, login.capver, login.ephemeral,
                            !opts_.requireMachineAuth, false);
  if (n == nullptr) return httpError(500, "address pool exhausted");
  if (n->rec.machineAuthorized) announceJoin(*n);
  return registerReply({&user_, false, n->rec.machineAuthorized, "", ""});
}

std::string ControlServer::uniqueLabel(const std::string& hostname, int64_t id) {
  std::string base = sanitizeLabel(hostname);
  if (base.empty()) base = "node-" + std::to_string(id);
  std::string label = base;
  for (int i = 1; labels_.count(label) != 0; ++i) {
    std::string suffix = "-" + std::to_string(i);
    label = base.substr(0, size_t(MAX_LABEL) - suffix.size()) + suffix;
  }
  return label;
}

ControlServer::NodeEntry* ControlServer::createNode(const key::NodePublic& nodeKey,
                                                    const key::MachinePublic& machine,
                                                    const std::optional<StoredHostinfo>& hostinfo,
                                                    int64_t capver, bool ephemeral, bool authorized,
                                                    bool synthetic) {
  auto addrs = pool_.next();
  if (!addrs) return nullptr;
  int64_t id = nextNodeId_++;
  NodeEntry e;
  NodeRecord& n = e.rec;
  n.id = id;
  char stable[32];
  std::snprintf(stable, sizeof stable, "TESTCTRL%08llx", static_cast<unsigned long long>(id));
  n.stableId = stable;
  n.nodeKey = nodeKey;
  n.machineKey = machine;
  n.userId = user_.id;
  n.addresses = *addrs;
  n.hostinfo = hostinfo;
  std::string label = uniqueLabel(hostinfo ? hostinfo->hostname : "", id);
  n.name = label + "." + opts_.domain + ".";
  if (hostinfo && hostinfo->preferredDerp != 0) n.homeDerp = hostinfo->preferredDerp;
  n.cap = capver;
  n.created = opts_.wallNow();
  n.machineAuthorized = authorized;
  n.ephemeral = ephemeral;
  n.synthetic = synthetic;
  n.online = synthetic;
  labels_[label] = id;
  byKey_[nodeKey] = id;
  return &nodes_.emplace(id, std::move(e)).first->second;
}

void ControlServer::rekeyNode(NodeEntry& e, const key::NodePublic& newKey) {
  byKey_.erase(e.rec.nodeKey);
  e.rec.nodeKey = newKey;
  e.rec.keyExpiry.reset();  // a fresh login renews the key
  byKey_[newKey] = e.rec.id;
  e.peerJson.clear();
  if (e.rec.machineAuthorized) {
    MapResponseParts p;
    p.peersChanged.push_back(&peerJson(e));
    broadcast(e.rec.id, encodeMapResponse(p));
  }
  selfChanged(e);
}

void ControlServer::applyHostinfo(NodeEntry& e, const std::optional<StoredHostinfo>& hostinfo) {
  if (e.rec.hostinfo == hostinfo) return;
  e.rec.hostinfo = hostinfo;
  if (hostinfo && hostinfo->preferredDerp != 0) e.rec.homeDerp = hostinfo->preferredDerp;
  e.peerJson.clear();
  if (e.rec.machineAuthorized) {
    MapResponseParts p;
    p.peersChanged.push_back(&peerJson(e));
    broadcast(e.rec.id, encodeMapResponse(p));
  }
  selfChanged(e);
}

// ---------------------------------------------------------------------------- map

const std::string& ControlServer::peerJson(NodeEntry& e) {
  if (e.peerJson.empty()) e.peerJson = nodeJson(e.rec, true);
  return e.peerJson;
}

std::string ControlServer::fullMapJson(const NodeEntry& self) {
  MapResponseParts p;
  p.node = nodeJson(self.rec, false);
  p.derpMap = derpMapJson(opts_.derp);
  if (self.rec.machineAuthorized) {
    p.peers.reserve(nodes_.size());
    for (auto& [id, e] : nodes_) {
      if (id != self.rec.id && e.rec.machineAuthorized) p.peers.push_back(&peerJson(e));
    }
  }
  p.dnsConfig = dnsConfigJson(opts_.domain);
  p.domain = opts_.domain;
  p.collectServices = true;
  p.packetFilter = packetFilterJson();
  p.userProfiles.push_back(userProfileJson(user_));
  p.controlTime = opts_.wallNow();
  return encodeMapResponse(p);
}

std::optional<HttpReply> ControlServer::handleMap(const key::MachinePublic& machine, std::string_view body,
                                                  MapSink sink, uint64_t* sessionId) {
  ++stateVersion_;  // may change the tailnet: worth saving
  auto parsed = parseMapRequest(body);
  if (!parsed) return httpError(400, "bad map request: " + parsed.error().message);
  ServerMapRequest& req = *parsed;
  NodeEntry* e = entryByKey(req.nodeKey);
  if (e == nullptr) return httpError(400, "node not found");
  if (e->rec.machineKey != machine) return httpError(400, "node doesn't match machine key");

  // Capver >= 68: a streaming poll is read-only; Hostinfo, Endpoints and DiscoKey come in
  // separate non-streaming "lite" requests.
  bool streamingReadOnly = req.stream && req.version >= 68;
  if (!req.readOnly && !streamingReadOnly) {
    NodeRecord before = e->rec;
    std::vector<ipn::IpAddrPort> endpoints;
    for (auto& ep : req.endpoints) {
      if (keepEndpoint(ep)) endpoints.push_back(std::move(ep));
    }
    e->rec.endpoints = std::move(endpoints);
    e->rec.discoKey = req.discoKey;
    e->rec.cap = req.version;
    bool hostinfoChanged = false;
    if (req.hostinfo) {
      hostinfoChanged = e->rec.hostinfo != req.hostinfo;
      e->rec.hostinfo = req.hostinfo;
      if (req.hostinfo->preferredDerp != 0) e->rec.homeDerp = req.hostinfo->preferredDerp;
    }
    bool endpointsChanged = before.endpoints != e->rec.endpoints;
    bool discoChanged = before.discoKey != e->rec.discoKey;
    bool derpChanged = before.homeDerp != e->rec.homeDerp;
    if (hostinfoChanged || endpointsChanged || discoChanged || derpChanged || before.cap != e->rec.cap) {
      e->peerJson.clear();
    }
    if (e->rec.machineAuthorized && (hostinfoChanged || endpointsChanged || discoChanged || derpChanged)) {
      MapResponseParts p;
      // PeerChange cannot say "no endpoints" or "no home DERP" (both omitempty), nor carry
      // Hostinfo: those go out as the whole node.
      bool whole = hostinfoChanged || (endpointsChanged && e->rec.endpoints.empty()) ||
                   (derpChanged && e->rec.homeDerp == 0);
      if (whole) {
        p.peersChanged.push_back(&peerJson(*e));
      } else {
        PeerChange c;
        c.nodeId = e->rec.id;
        if (derpChanged) c.derpRegion = e->rec.homeDerp;
        if (endpointsChanged) c.endpoints = e->rec.endpoints;
        if (discoChanged) c.discoKey = e->rec.discoKey;
        p.peersChangedPatch.push_back(peerChangeJson(c));
      }
      broadcast(e->rec.id, encodeMapResponse(p));
    }
    if (hostinfoChanged || endpointsChanged || discoChanged || derpChanged) selfChanged(*e);
  }

  if (!req.stream) {
    HttpReply r{200, "", ""};
    if (!req.omitPeers) {
      auto framed = frames_.frame(fullMapJson(*e), !req.compress.empty());
      if (!framed) {
        flush();
        return httpError(500, framed.error().message);
      }
      r.body = std::move(*framed);
    }
    flush();
    return r;
  }

  // One streaming poll per node: a new one replaces the old (Go's
  // breakSameNodeMapResponseStreams).
  if (auto old = sessionByNode_.find(e->rec.id); old != sessionByNode_.end()) closeSession(old->second);
  uint64_t sid = nextSessionId_++;
  Session s;
  s.nodeId = e->rec.id;
  s.zstd = !req.compress.empty();  // Go's testcontrol compresses for any non-empty Compress
  s.sink = std::move(sink);
  s.lastSendMs = opts_.monoNowMs();
  sessions_[sid] = std::move(s);
  sessionByNode_[e->rec.id] = sid;
  sendTo(sid, std::make_shared<const std::string>(fullMapJson(*e)));
  setOnline(*e, true);
  *sessionId = sid;
  flush();
  return std::nullopt;
}

void ControlServer::endSession(uint64_t sessionId) {
  ++stateVersion_;  // may change the tailnet: worth saving
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return;  // already closed by us
  int64_t nodeId = it->second.nodeId;
  sessions_.erase(it);
  if (auto s = sessionByNode_.find(nodeId); s != sessionByNode_.end() && s->second == sessionId) {
    sessionByNode_.erase(s);
  }
  if (NodeEntry* e = entryById(nodeId); e != nullptr && sessionByNode_.count(nodeId) == 0) {
    // An ephemeral node lives only as long as its map poll.
    if (e->rec.ephemeral) {
      removeNode(nodeId);
    } else {
      setOnline(*e, false);
    }
  }
  flush();
}

void ControlServer::tick() {
  int64_t now = opts_.monoNowMs();
  static const auto KEEP_ALIVE = std::make_shared<const std::string>(R"({"KeepAlive":true})");
  std::vector<uint64_t> due;
  for (const auto& [sid, s] : sessions_) {
    if (now - s.lastSendMs >= opts_.keepAliveMs) due.push_back(sid);
  }
  for (uint64_t sid : due) sendTo(sid, KEEP_ALIVE);
  flush();
}

void ControlServer::sendTo(uint64_t sessionId, std::shared_ptr<const std::string> json) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return;
  it->second.lastSendMs = opts_.monoNowMs();
  outbox_.push_back({sessionId, std::move(json)});
}

void ControlServer::sendToNode(int64_t nodeId, std::string json) {
  auto it = sessionByNode_.find(nodeId);
  if (it != sessionByNode_.end()) sendTo(it->second, std::make_shared<const std::string>(std::move(json)));
}

void ControlServer::broadcast(int64_t except, std::string json) {
  auto shared = std::make_shared<const std::string>(std::move(json));
  for (const auto& [sid, s] : sessions_) {
    if (s.nodeId == except) continue;
    const NodeRecord* n = nodeById(s.nodeId);
    if (n != nullptr && n->machineAuthorized) sendTo(sid, shared);
  }
}

void ControlServer::announceJoin(NodeEntry& e) {
  MapResponseParts p;
  p.peersChanged.push_back(&peerJson(e));
  p.userProfiles.push_back(userProfileJson(user_));
  broadcast(e.rec.id, encodeMapResponse(p));
}

void ControlServer::selfChanged(NodeEntry& e) {
  MapResponseParts p;
  p.node = nodeJson(e.rec, false);
  sendToNode(e.rec.id, encodeMapResponse(p));
}

void ControlServer::setOnline(NodeEntry& e, bool online) {
  if (e.rec.online == online) return;
  e.rec.online = online;
  if (!online) e.rec.lastSeen = opts_.wallNow();
  e.peerJson.clear();
  if (e.rec.machineAuthorized) {
    MapResponseParts p;
    p.onlineChange[e.rec.id] = online;
    broadcast(e.rec.id, encodeMapResponse(p));
  }
}

void ControlServer::removeNode(int64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return;
  NodeRecord& n = it->second.rec;
  if (n.machineAuthorized) {
    MapResponseParts p;
    p.peersRemoved.push_back(id);
    broadcast(id, encodeMapResponse(p));
  }
  if (auto s = sessionByNode_.find(id); s != sessionByNode_.end()) closeSession(s->second);
  auto dot = n.name.find('.');
  labels_.erase(n.name.substr(0, dot));
  byKey_.erase(n.nodeKey);
  nodes_.erase(it);
}

void ControlServer::closeSession(uint64_t sessionId) {
  auto it = sessions_.find(sessionId);
  if (it == sessions_.end()) return;
  if (auto s = sessionByNode_.find(it->second.nodeId); s != sessionByNode_.end() && s->second == sessionId) {
    sessionByNode_.erase(s);
  }
  closing_.emplace_back(sessionId, std::move(it->second.sink));
  sessions_.erase(it);
}

void ControlServer::flush() {
  if (flushing_) return;  // the outer flush picks up whatever re-entrant calls queue
  flushing_ = true;
  // The same message to many streams is framed once per compression mode.
  const std::string* lastJson = nullptr;
  std::optional<std::string> plain, compressed;
  while (!outbox_.empty() || !closing_.empty() || !replies_.empty()) {
    std::vector<Outgoing> out;
    out.swap(outbox_);
    for (const Outgoing& o : out) {
      auto it = sessions_.find(o.sessionId);
      if (it == sessions_.end()) continue;
      if (o.json.get() != lastJson) {
        lastJson = o.json.get();
        plain.reset();
        compressed.reset();
      }
      std::optional<std::string>& cached = it->second.zstd ? compressed : plain;
      if (!cached) {
        auto framed = frames_.frame(*o.json, it->second.zstd);
        if (!framed) {
          closeSession(o.sessionId);
          continue;
        }
        cached = std::move(*framed);
      }
      // Copied: the sink may end its own stream (and so destroy the session) re-entrantly.
      auto write = it->second.sink.write;
      if (write) write(*cached);
    }
    std::vector<std::pair<uint64_t, MapSink>> closing;
    closing.swap(closing_);
    for (auto& [sid, sink] : closing) {
      if (sink.close) sink.close();
    }
    std::vector<std::pair<ReplyFn, HttpReply>> replies;
    replies.swap(replies_);
    for (auto& [fn, r] : replies) {
      if (fn) fn(std::move(r));
    }
  }
  flushing_ = false;
}

// ---------------------------------------------------------------------------- admin

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
