// ControlServer's /machine/register: auth keys, interactive logins and their approval, node
// creation and rekeying, logout (expiry), Hostinfo updates.
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

constexpr int64_t MAX_LABEL = 63;

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

}  // namespace

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

}  // namespace tnet::testcontrol
