#include "tests/integration/testcontrol/control_json.h"

#include "libs/ipn/netip.h"
#include "services/controld/core/go_time.h"

namespace tnet::testcontrol {
namespace {

using ipn::OrderedJson;

// Writes `"Name":` (names are ASCII identifiers: no escaping needed) with the comma before
// every member but the first.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  std::string& key(std::string_view name) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += name;
    out_ += "\":";
    return out_;
  }
  void string(std::string_view name, std::string_view v) { ipn::appendGoJsonString(key(name), v); }
  void integer(std::string_view name, int64_t v) { key(name) += std::to_string(v); }
  void boolean(std::string_view name, bool v) { key(name) += v ? "true" : "false"; }
  void raw(std::string_view name, std::string_view json) { key(name) += json; }
  void close() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

void appendPrefixes(std::string& out, const NodeAddresses& a) {
  out += '[';
  ipn::appendGoJsonString(out, a.v4.toString());
  out += ',';
  ipn::appendGoJsonString(out, a.v6.toString());
  out += ']';
}

}  // namespace

std::string nodeJson(const NodeRecord& n, bool asPeer) {
  std::string out;
  out.reserve(512 + (n.hostinfo ? n.hostinfo->json.size() : 0));
  ObjectWriter w(out);
  w.integer("ID", n.id);
  w.string("StableID", n.stableId);
  w.string("Name", n.name);
  w.integer("User", n.userId);
  w.string("Key", n.nodeKey.toString());
  if (n.keyExpiry) w.string("KeyExpiry", controld::formatGoTime(n.keyExpiry));
  if (!n.machineKey.isZero()) w.string("Machine", n.machineKey.toString());
  if (!n.discoKey.isZero()) w.string("DiscoKey", n.discoKey.toString());
  appendPrefixes(w.key("Addresses"), n.addresses);
  // AllowedIPs equal to Addresses (no subnet routes here), sent explicitly as Go's testcontrol
  // does so clients below capver 112 need no special case.
  appendPrefixes(w.key("AllowedIPs"), n.addresses);
  if (!n.endpoints.empty()) {
    std::string& o = w.key("Endpoints");
    o += '[';
    for (size_t i = 0; i < n.endpoints.size(); ++i) {
      if (i > 0) o += ',';
      ipn::appendGoJsonString(o, n.endpoints[i].toString());
    }
    o += ']';
  }
  if (n.homeDerp != 0) w.integer("HomeDERP", n.homeDerp);
  if (n.hostinfo) w.raw("Hostinfo", n.hostinfo->json);
  if (n.created != 0) w.string("Created", controld::formatGoTime(n.created));
  if (n.cap != 0) w.integer("Cap", n.cap);
  if (asPeer) {
    if (!n.online && n.lastSeen) w.string("LastSeen", controld::formatGoTime(n.lastSeen));
    w.boolean("Online", n.online);
  }
  if (n.machineAuthorized) w.boolean("MachineAuthorized", true);
  w.close();
  return out;
}

std::string registerResponseJson(const RegisterReply& r) {
  static const UserRecord ZERO_USER;
  const UserRecord& u = r.user ? *r.user : ZERO_USER;
  OrderedJson j = OrderedJson::object();
  j["User"] = {{"ID", u.id}, {"DisplayName", u.displayName}};
  OrderedJson login = {{"ID", u.id},
                       {"Provider", r.user ? "testcontrol" : ""},
                       {"LoginName", u.loginName},
                       {"DisplayName", u.displayName}};
  j["Login"] = std::move(login);
  j["NodeKeyExpired"] = r.nodeKeyExpired;
  j["MachineAuthorized"] = r.machineAuthorized;
  j["AuthURL"] = r.authUrl;
  j["NodeKeySignature"] = nullptr;  // a nil []byte without omitempty
  j["Error"] = r.error;
  return ipn::goMarshal(j);
}

OrderedJson derpMapJson(const std::optional<DerpOptions>& derp) {
  OrderedJson regions = OrderedJson::object();
  if (derp) {
    OrderedJson node = OrderedJson::object();
    node["Name"] = std::to_string(DERP_REGION_ID) + "a";
    node["RegionID"] = DERP_REGION_ID;
    node["HostName"] = derp->host;
    // Clients dial the address, not the name: an IP literal in --derp-url is used as is (the
    // namespace tests put DERP on a hub address), a name resolves to loopback.
    auto ip = ipn::parseIpAddr(derp->host);
    if (ip && ip->v6) {
      node["IPv4"] = "none";
      node["IPv6"] = ip->toString();
    } else {
      node["IPv4"] = ip ? ip->toString() : "127.0.0.1";
    }
    if (derp->stunPort != 0) node["STUNPort"] = derp->stunPort;
    if (derp->port != 0) node["DERPPort"] = derp->port;
    node["InsecureForTests"] = true;
    OrderedJson region = OrderedJson::object();
    region["RegionID"] = DERP_REGION_ID;
    region["RegionCode"] = "test";
    region["RegionName"] = "Test Region";
    region["Nodes"] = OrderedJson::array({std::move(node)});
    regions[std::to_string(DERP_REGION_ID)] = std::move(region);
  }
  OrderedJson m = OrderedJson::object();
  m["Regions"] = std::move(regions);
  return m;
}

OrderedJson dnsConfigJson(const std::string& domain) {
  OrderedJson j = OrderedJson::object();
  j["Domains"] = OrderedJson::array({domain});
  j["Proxied"] = true;
  return j;
}

OrderedJson packetFilterAllowAllJson() {
  OrderedJson dst = OrderedJson::object();
  dst["IP"] = "*";
  dst["Ports"] = {{"First", 0}, {"Last", 65535}};
  OrderedJson rule = OrderedJson::object();
  rule["SrcIPs"] = OrderedJson::array({"*"});
  rule["DstPorts"] = OrderedJson::array({std::move(dst)});
  return OrderedJson::array({std::move(rule)});
}

OrderedJson userProfileJson(const UserRecord& u) {
  return {{"ID", u.id}, {"LoginName", u.loginName}, {"DisplayName", u.displayName}};
}

OrderedJson peerChangeJson(const PeerChange& c) {
  OrderedJson j = OrderedJson::object();
  j["NodeID"] = c.nodeId;
  if (c.derpRegion != 0) j["DERPRegion"] = c.derpRegion;
  if (c.endpoints && !c.endpoints->empty()) {
    OrderedJson a = OrderedJson::array();
    for (const auto& e : *c.endpoints) a.push_back(e.toString());
    j["Endpoints"] = std::move(a);
  }
  if (c.discoKey) j["DiscoKey"] = c.discoKey->toString();
  if (c.online) j["Online"] = *c.online;
  if (c.lastSeen) j["LastSeen"] = controld::formatGoTime(c.lastSeen);
  if (c.keyExpiry) j["KeyExpiry"] = controld::formatGoTime(c.keyExpiry);
  return j;
}

std::string encodeMapResponse(const MapResponseParts& p) {
  std::string out;
  size_t reserve = 256;
  for (const std::string* s : p.peers) reserve += s->size() + 1;
  for (const std::string* s : p.peersChanged) reserve += s->size() + 1;
  out.reserve(reserve);
  ObjectWriter w(out);
  if (p.keepAlive) w.boolean("KeepAlive", true);
  if (p.node) w.raw("Node", *p.node);
  if (p.derpMap) w.raw("DERPMap", ipn::goMarshal(*p.derpMap));
  auto nodeList = [&](std::string_view name, const std::vector<const std::string*>& nodes) {
    if (nodes.empty()) return;
    std::string& o = w.key(name);
    o += '[';
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (i > 0) o += ',';
      o += *nodes[i];
    }
    o += ']';
  };
  nodeList("Peers", p.peers);
  nodeList("PeersChanged", p.peersChanged);
  if (!p.peersRemoved.empty()) w.raw("PeersRemoved", ipn::goMarshal(OrderedJson(p.peersRemoved)));
  if (!p.peersChangedPatch.empty())
    w.raw("PeersChangedPatch", ipn::goMarshal(OrderedJson(p.peersChangedPatch)));
  if (!p.onlineChange.empty()) {
    OrderedJson m = OrderedJson::object();  // Go sorts map keys as strings
    std::map<std::string, bool> sorted;
    for (const auto& [id, on] : p.onlineChange) sorted[std::to_string(id)] = on;
    for (const auto& [id, on] : sorted) m[id] = on;
    w.raw("OnlineChange", ipn::goMarshal(m));
  }
  if (p.dnsConfig) w.raw("DNSConfig", ipn::goMarshal(*p.dnsConfig));
  if (!p.domain.empty()) w.string("Domain", p.domain);
  if (p.collectServices) w.boolean("CollectServices", *p.collectServices);
  if (p.packetFilter) w.raw("PacketFilter", ipn::goMarshal(*p.packetFilter));
  if (!p.userProfiles.empty()) w.raw("UserProfiles", ipn::goMarshal(OrderedJson(p.userProfiles)));
  if (p.controlTime) w.string("ControlTime", controld::formatGoTime(p.controlTime));
  w.close();
  return out;
}

}  // namespace tnet::testcontrol
