// ControlServer's /machine/map: full maps and deltas, map sessions and their keep-alives, what
// goes to which node when the tailnet changes.
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

// Go's testcontrol drops link-local IPv6 endpoints and anything with a zone.
bool keepEndpoint(const ipn::IpAddrPort& ep) {
  if (!ep.addr.zone.empty()) return false;
  if (ep.addr.v6 && ep.addr.bytes[0] == 0xfe && (ep.addr.bytes[1] & 0xc0) == 0x80) return false;
  return true;
}

}  // namespace

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

}  // namespace tnet::testcontrol
