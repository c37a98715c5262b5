// ControlServer's saved form (--state FILE): what a restarted testcontrol needs so its clients'
// netmaps recover — the same nodes, addresses, keys and allocation position.
#include "services/controld/core/go_time.h"
#include "tests/integration/testcontrol/control_server.h"
#include "tests/integration/testcontrol/filter_rules.h"

namespace tnet::testcontrol {
namespace {

using ipn::Json;
using ipn::OrderedJson;

constexpr int STATE_VERSION = 1;

Result<const Json*> member(const Json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end()) return Error::invalid(std::string("state: missing ") + name);
  return &*it;
}

Result<std::string> str(const Json& o, const char* name) {
  TNET_TRY(const Json* v, member(o, name));
  if (!v->is_string()) return Error::invalid(std::string("state: ") + name + " is not a string");
  return v->get<std::string>();
}

Result<int64_t> num(const Json& o, const char* name) {
  TNET_TRY(const Json* v, member(o, name));
  if (!v->is_number_integer()) return Error::invalid(std::string("state: ") + name + " is not an integer");
  return v->get<int64_t>();
}

Result<bool> flag(const Json& o, const char* name) {
  TNET_TRY(const Json* v, member(o, name));
  if (!v->is_boolean()) return Error::invalid(std::string("state: ") + name + " is not a bool");
  return v->get<bool>();
}

Result<std::optional<int64_t>> time(const Json& o, const char* name) {
  TNET_TRY(const Json* v, member(o, name));
  if (v->is_null()) return std::optional<int64_t>();
  if (!v->is_string()) return Error::invalid(std::string("state: ") + name + " is not a time");
  return controld::parseGoTime(v->get<std::string>());
}

template <typename Key>
Result<Key> keyOf(const Json& o, const char* name) {
  TNET_TRY(std::string text, str(o, name));
  return Key::parse(text);
}

OrderedJson timeJson(std::optional<int64_t> t) {
  return t ? OrderedJson(controld::formatGoTime(t)) : OrderedJson();
}

}  // namespace

OrderedJson ControlServer::exportState() const {
  OrderedJson j = OrderedJson::object();
  j["version"] = STATE_VERSION;
  j["nextNodeId"] = nextNodeId_;
  j["poolCursor"] = pool_.cursor();
  j["poolAllocated"] = pool_.allocated();
  j["syntheticSerial"] = syntheticSerial_;
  OrderedJson keys = OrderedJson::array();
  for (const auto& [k, v] : keys_) {
    keys.push_back({{"key", k}, {"reusable", v.reusable}, {"ephemeral", v.ephemeral}, {"used", v.used}});
  }
  j["keys"] = std::move(keys);
  OrderedJson nodes = OrderedJson::array();
  for (const auto& [id, e] : nodes_) {
    const NodeRecord& n = e.rec;
    OrderedJson o = OrderedJson::object();
    o["id"] = n.id;
    o["stableId"] = n.stableId;
    o["nodeKey"] = n.nodeKey.toString();
    o["machineKey"] = n.machineKey.toString();
    o["discoKey"] = n.discoKey.toString();
    o["v4"] = n.addresses.v4.toString();
    o["v6"] = n.addresses.v6.toString();
    o["hostinfo"] = n.hostinfo ? OrderedJson(n.hostinfo->json) : OrderedJson();
    o["name"] = n.name;
    OrderedJson eps = OrderedJson::array();
    for (const auto& ep : n.endpoints) eps.push_back(ep.toString());
    o["endpoints"] = std::move(eps);
    o["homeDerp"] = n.homeDerp;
    o["cap"] = n.cap;
    o["created"] = timeJson(n.created);
    o["keyExpiry"] = timeJson(n.keyExpiry);
    o["lastSeen"] = timeJson(n.lastSeen);
    o["machineAuthorized"] = n.machineAuthorized;
    o["ephemeral"] = n.ephemeral;
    o["synthetic"] = n.synthetic;
    nodes.push_back(std::move(o));
  }
  j["nodes"] = std::move(nodes);
  // Optional (older files have none): the admin-set PacketFilter as its JSON text.
  if (packetFilter_) j["packetFilter"] = ipn::goMarshal(*packetFilter_);
  return j;
}

Result<void> ControlServer::importState(const Json& state) {
  if (!nodes_.empty() || !keys_.empty()) return Error::invalid("state: the server already has a tailnet");
  if (!state.is_object()) return Error::invalid("state: not an object");
  TNET_TRY(int64_t version, num(state, "version"));
  if (version != STATE_VERSION) return Error::invalid("state: unknown version " + std::to_string(version));
  TNET_TRY(int64_t nextNodeId, num(state, "nextNodeId"));
  TNET_TRY(int64_t cursor, num(state, "poolCursor"));
  TNET_TRY(int64_t allocated, num(state, "poolAllocated"));
  TNET_TRY(int64_t serial, num(state, "syntheticSerial"));
  if (nextNodeId < 1 || cursor < 0 || cursor >= (1 << 22) || allocated < 0 || serial < 0) {
    return Error::invalid("state: counters out of range");
  }
  std::unordered_map<std::string, PreAuthKey> keys;
  TNET_TRY(const Json* keyList, member(state, "keys"));
  if (!keyList->is_array()) return Error::invalid("state: keys is not an array");
  for (const Json& k : *keyList) {
    TNET_TRY(std::string text, str(k, "key"));
    TNET_TRY(bool reusable, flag(k, "reusable"));
    TNET_TRY(bool ephemeral, flag(k, "ephemeral"));
    TNET_TRY(bool used, flag(k, "used"));
    keys[text] = PreAuthKey{reusable, ephemeral, used};
  }
  std::map<int64_t, NodeEntry> nodes;
  std::unordered_map<key::NodePublic, int64_t> byKey;
  std::unordered_map<std::string, int64_t> labels;
  TNET_TRY(const Json* nodeList, member(state, "nodes"));
  if (!nodeList->is_array()) return Error::invalid("state: nodes is not an array");
  for (const Json& o : *nodeList) {
    NodeEntry e;
    NodeRecord& n = e.rec;
    TNET_TRY(n.id, num(o, "id"));
    TNET_TRY(n.stableId, str(o, "stableId"));
    TNET_TRY(n.nodeKey, keyOf<key::NodePublic>(o, "nodeKey"));
    TNET_TRY(n.machineKey, keyOf<key::MachinePublic>(o, "machineKey"));
    TNET_TRY(n.discoKey, keyOf<key::DiscoPublic>(o, "discoKey"));
    n.userId = user_.id;
    TNET_TRY(std::string v4, str(o, "v4"));
    TNET_TRY(std::string v6, str(o, "v6"));
    TNET_TRY(n.addresses.v4, ipn::parseIpPrefix(v4));
    TNET_TRY(n.addresses.v6, ipn::parseIpPrefix(v6));
    TNET_TRY(const Json* hi, member(o, "hostinfo"));
    if (hi->is_string()) {
      TNET_TRY(Json parsed, ipn::parseJson(hi->get<std::string>()));
      TNET_TRY(StoredHostinfo h, normalizeHostinfo(parsed));
      n.hostinfo = std::move(h);
    } else if (!hi->is_null()) {
      return Error::invalid("state: hostinfo is not a string");
    }
    TNET_TRY(n.name, str(o, "name"));
    TNET_TRY(const Json* eps, member(o, "endpoints"));
    if (!eps->is_array()) return Error::invalid("state: endpoints is not an array");
    for (const Json& ep : *eps) {
      if (!ep.is_string()) return Error::invalid("state: endpoint is not a string");
      TNET_TRY(ipn::IpAddrPort ap, ipn::parseIpAddrPort(ep.get<std::string>()));
      n.endpoints.push_back(std::move(ap));
    }
    TNET_TRY(int64_t homeDerp, num(o, "homeDerp"));
    n.homeDerp = int(homeDerp);
    TNET_TRY(n.cap, num(o, "cap"));
    TNET_TRY(std::optional<int64_t> created, time(o, "created"));
    n.created = created.value_or(0);
    TNET_TRY(n.keyExpiry, time(o, "keyExpiry"));
    TNET_TRY(n.lastSeen, time(o, "lastSeen"));
    TNET_TRY(n.machineAuthorized, flag(o, "machineAuthorized"));
    TNET_TRY(n.ephemeral, flag(o, "ephemeral"));
    TNET_TRY(n.synthetic, flag(o, "synthetic"));
    n.online = n.synthetic;  // real nodes are offline until they poll again
    if (n.id < 1 || n.id >= nextNodeId || nodes.count(n.id) != 0 || byKey.count(n.nodeKey) != 0) {
      return Error::invalid("state: duplicate or out-of-range node " + std::to_string(n.id));
    }
    byKey[n.nodeKey] = n.id;
    labels[n.name.substr(0, n.name.find('.'))] = n.id;
    nodes.emplace(n.id, std::move(e));
  }
  std::optional<OrderedJson> filter;
  if (auto f = state.find("packetFilter"); f != state.end()) {
    if (!f->is_string()) return Error::invalid("state: packetFilter is not a string");
    auto rules = parseFilterRules(f->get<std::string>());
    if (!rules) return Error::invalid("state: packetFilter: " + rules.error().message);
    filter = std::move(*rules);
  }
  nodes_ = std::move(nodes);
  byKey_ = std::move(byKey);
  packetFilter_ = std::move(filter);
  labels_ = std::move(labels);
  keys_ = std::move(keys);
  nextNodeId_ = nextNodeId;
  pool_.restore(uint32_t(cursor), uint64_t(allocated));
  syntheticSerial_ = uint64_t(serial);
  return {};
}

}  // namespace tnet::testcontrol
