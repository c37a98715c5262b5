#include "services/ipnd/core/peer_query.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "libs/ipn/dns_name.h"
#include "libs/ipn/netip.h"
#include "services/controld/core/go_time.h"

namespace tnet::ipnd {

namespace {

using ipn::Json;
using ipn::OrderedJson;

std::string firstAddr(const NodeFacts& n) {
  if (n.addresses.empty()) return "";
  const std::string& p = n.addresses.front();
  return p.substr(0, p.find('/'));
}

// Go's magicsock Ping: the first label of the node's name, else its host name.
std::string pingNodeName(const NodeFacts& n) {
  if (n.name.empty()) return n.hostname;
  return n.name.substr(0, n.name.find('.'));
}

bool prefixHolds(const std::string& prefixText, const ipn::IpAddr& ip, int& bitsOut) {
  auto p = ipn::parseIpPrefix(prefixText);
  if (!p || p->addr.v6 != ip.v6) return false;
  ipn::IpPrefix mine{ip, p->bits};
  if (mine.masked().addr != p->masked().addr) return false;
  bitsOut = p->bits;
  return true;
}

OrderedJson strings(const std::vector<std::string>& v) {
  OrderedJson a = OrderedJson::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

OrderedJson latencyMap(const std::vector<std::pair<int32_t, int64_t>>& v) {
  // Go encodes map[int]time.Duration with the keys as strings, sorted as strings.
  std::map<std::string, int64_t> sorted;
  for (const auto& [id, ns] : v) sorted[std::to_string(id)] = ns;
  OrderedJson o = OrderedJson::object();
  for (const auto& [k, ns] : sorted) o[k] = ns;
  return o;
}

// Go's opt.Bool: "" → null, else true/false.
OrderedJson optBool(int8_t v) {
  if (v < 0) return nullptr;
  return v > 0;
}

}  // namespace

std::string pingResultJson(const PingResult& r) {
  OrderedJson o = OrderedJson::object();
  o["IP"] = r.ip;
  o["NodeIP"] = r.nodeIp;
  o["NodeName"] = r.nodeName;
  o["Err"] = r.err;
  o["LatencySeconds"] = r.latencySeconds;  // goMarshal writes 0.0 as Go's "0"
  o["Endpoint"] = r.endpoint;
  o["PeerRelay"] = "";  // tailnetd uses no peer relays; Go never omits the field
  o["DERPRegionID"] = r.derpRegionId;
  o["DERPRegionCode"] = r.derpRegionCode;
  if (r.peerApiPort != 0) o["PeerAPIPort"] = r.peerApiPort;
  if (r.isLocalIp) o["IsLocalIP"] = true;
  return ipn::goMarshal(o) + "\n";  // json.Encoder
}

std::optional<PeerMatch> peerForIp(const NetmapFacts& nm, std::string_view ipText) {
  auto ip = ipn::parseIpAddr(ipText);
  if (!ip) return std::nullopt;
  auto holds = [&](const NodeFacts& n) {
    for (const auto& a : n.addresses) {
      auto p = ipn::parseIpPrefix(a);
      if (p && p->addr == *ip) return true;
    }
    return false;
  };
  if (nm.self && holds(*nm.self)) return PeerMatch{&*nm.self, true};
  for (const auto& p : nm.peers)
    if (holds(p)) return PeerMatch{&p, false};
  // Subnet routers: the longest AllowedIPs prefix holding ip.
  const NodeFacts* best = nullptr;
  int bestBits = -1;
  for (const auto& p : nm.peers) {
    for (const auto& a : p.allowedIps) {
      int bits = 0;
      if (prefixHolds(a, *ip, bits) && bits > bestBits) {
        best = &p;
        bestBits = bits;
      }
    }
  }
  if (best) return PeerMatch{best, false};
  return std::nullopt;
}

PingDecision decidePing(const LocalApiRequest& req, const std::optional<NetmapFacts>& nm) {
  PingDecision d;
  if (req.method != "POST") {
    d.answer = httpError(400, "want POST");
    return d;
  }
  auto ipText = queryValue(req.query, "ip").value_or("");
  if (ipText.empty()) {
    d.answer = httpError(400, "missing 'ip' parameter");
    return d;
  }
  auto ip = ipn::parseIpAddr(ipText);
  if (!ip) {
    d.answer = httpError(400, "invalid IP");
    return d;
  }
  auto type = queryValue(req.query, "type").value_or("");
  if (type.empty()) {
    d.answer = httpError(400, "missing 'type' parameter");
    return d;
  }
  if (auto sizeText = queryValue(req.query, "size"); sizeText && !sizeText->empty()) {
    int64_t size = 0;
    const char* end = sizeText->data() + sizeText->size();
    auto [ptr, ec] = std::from_chars(sizeText->data(), end, size);
    if (ec != std::errc() || ptr != end) {
      d.answer = httpError(400, "invalid 'size' parameter");
      return d;
    }
    if (size != 0 && type != "disco") {
      d.answer = httpError(400, "'size' parameter is only supported with disco pings");
      return d;
    }
  }
  PingResult r;
  r.ip = ip->toString();
  auto match = nm ? peerForIp(*nm, r.ip) : std::nullopt;
  if (!match) {
    r.err = "no matching peer";
    d.answer = pingAnswer(r);
    return d;
  }
  if (match->isSelf) {
    r.err = r.ip + " is local Tailscale IP";
    r.isLocalIp = true;
    d.answer = pingAnswer(r);
    return d;
  }
  if (type == "TSMP" || type == "ICMP") {
    d.plan.type = type == "TSMP" ? PingType::TSMP : PingType::ICMP;
    d.plan.nodeName = computedName(*match->node, nm->magicDnsSuffix);
    d.plan.partial = std::move(r);
    d.plan.nodePublic = match->node->key;
    return d;
  }
  r.nodeIp = firstAddr(*match->node);
  r.nodeName = pingNodeName(*match->node);
  if (type != "disco") {
    // Go's peerapi ping is an HTTP HEAD to the peer's PeerAPI, which tailnetd does not run; Go's
    // engine never answers other types at all.
    r.err = "ping type \"" + type + "\" is not supported by tailnetd";
    d.answer = pingAnswer(r);
    return d;
  }
  d.plan.partial = std::move(r);
  d.plan.nodePublic = match->node->key;
  return d;
}

LocalApiResponse pingAnswer(PingResult r) {
  return jsonBody(200, pingResultJson(r));
}

std::string computedName(const NodeFacts& node, std::string_view magicDnsSuffix) {
  return displayNames(node, magicDnsSuffix).first;  // Go's Node.ComputedName
}

PingResult pingSucceeded(const PingPlan& plan, int64_t latencyNs, uint16_t peerApiPort) {
  PingResult r = plan.partial;
  r.latencySeconds = double(latencyNs) / 1e9;
  r.nodeIp = r.ip;
  r.nodeName = plan.nodeName;
  r.peerApiPort = plan.type == PingType::TSMP ? peerApiPort : 0;
  return r;
}

namespace {

// How a tailcfg field is re-encoded from the Hostinfo JSON control sent: Go decodes it into its
// structs and marshals those, so unknown fields vanish, keys take Go's spelling and order, and
// zero values are left out (every Hostinfo field is omitzero/omitempty).
enum class GoKind { STRING, BOOL, OPT_BOOL, NUMBER, STRINGS, SERVICES, NET_INFO, FLOAT_MAP, LOCATION, TPM };
struct GoField {
  const char* name;
  GoKind kind;
};

constexpr GoField HOSTINFO_FIELDS[] = {
    {"IPNVersion", GoKind::STRING},     {"FrontendLogID", GoKind::STRING},  {"BackendLogID", GoKind::STRING},
    {"OS", GoKind::STRING},             {"OSVersion", GoKind::STRING},      {"Container", GoKind::OPT_BOOL},
    {"Env", GoKind::STRING},            {"Distro", GoKind::STRING},         {"DistroVersion", GoKind::STRING},
    {"DistroCodeName", GoKind::STRING}, {"App", GoKind::STRING},            {"Desktop", GoKind::OPT_BOOL},
    {"Package", GoKind::STRING},        {"DeviceModel", GoKind::STRING},    {"PushDeviceToken", GoKind::STRING},
    {"Hostname", GoKind::STRING},       {"ShieldsUp", GoKind::BOOL},        {"ShareeNode", GoKind::BOOL},
    {"NoLogsNoSupport", GoKind::BOOL},  {"RemoteConfig", GoKind::BOOL},     {"WireIngress", GoKind::BOOL},
    {"IngressEnabled", GoKind::BOOL},   {"AllowsUpdate", GoKind::BOOL},     {"Machine", GoKind::STRING},
    {"GoArch", GoKind::STRING},         {"GoArchVar", GoKind::STRING},      {"GoVersion", GoKind::STRING},
    {"RoutableIPs", GoKind::STRINGS},   {"RequestTags", GoKind::STRINGS},   {"WoLMACs", GoKind::STRINGS},
    {"Services", GoKind::SERVICES},     {"NetInfo", GoKind::NET_INFO},      {"sshHostKeys", GoKind::STRINGS},
    {"Cloud", GoKind::STRING},          {"Userspace", GoKind::OPT_BOOL},    {"UserspaceRouter", GoKind::OPT_BOOL},
    {"AppConnector", GoKind::OPT_BOOL}, {"ServicesHash", GoKind::STRING},   {"PeerRelay", GoKind::BOOL},
    {"ExitNodeID", GoKind::STRING},     {"Location", GoKind::LOCATION},     {"TPM", GoKind::TPM},
    {"StateEncrypted", GoKind::OPT_BOOL},
};
constexpr GoField NET_INFO_FIELDS[] = {
    {"MappingVariesByDestIP", GoKind::OPT_BOOL}, {"WorkingIPv6", GoKind::OPT_BOOL}, {"OSHasIPv6", GoKind::OPT_BOOL},
    {"WorkingUDP", GoKind::OPT_BOOL},   {"WorkingICMPv4", GoKind::OPT_BOOL}, {"HavePortMap", GoKind::BOOL},
    {"UPnP", GoKind::OPT_BOOL},         {"PMP", GoKind::OPT_BOOL},           {"PCP", GoKind::OPT_BOOL},
    {"PreferredDERP", GoKind::NUMBER},  {"LinkType", GoKind::STRING},        {"DERPLatency", GoKind::FLOAT_MAP},
    {"FirewallMode", GoKind::STRING},
};
constexpr GoField LOCATION_FIELDS[] = {
    {"Country", GoKind::STRING},  {"CountryCode", GoKind::STRING}, {"City", GoKind::STRING},
    {"CityCode", GoKind::STRING}, {"Latitude", GoKind::NUMBER},    {"Longitude", GoKind::NUMBER},
    {"Priority", GoKind::NUMBER},
};
constexpr GoField TPM_FIELDS[] = {
    {"Manufacturer", GoKind::STRING}, {"Vendor", GoKind::STRING},       {"Model", GoKind::NUMBER},
    {"FirmwareVersion", GoKind::NUMBER}, {"SpecRevision", GoKind::NUMBER}, {"FamilyIndicator", GoKind::STRING},
};

// Go's decoder: the exact key, else the last case-insensitive match.
const Json* findField(const Json& obj, std::string_view name) {
  if (auto it = obj.find(std::string(name)); it != obj.end()) return &*it;
  const Json* found = nullptr;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (ipn::keyEqualFold(it.key(), name)) found = &it.value();
  return found;
}

// A number as decoded (goMarshal writes a float64 without a fraction as Go does, "1").
OrderedJson goNumber(const Json& v) {
  if (v.is_number_float()) return v.get<double>();
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  return v.get<int64_t>();
}

bool isZeroNumber(const Json& v) {
  return v.is_number_float() ? v.get<double>() == 0 : v.is_number_unsigned() ? v.get<uint64_t>() == 0 : v.get<int64_t>() == 0;
}

template <size_t N>
OrderedJson goStruct(const Json& in, const GoField (&fields)[N]);

// The field's value as Go re-encodes it, or nullopt when it is zero (omitted) or not of the
// field's type (Go would have refused the whole map; whois leaves the field out).
std::optional<OrderedJson> goValue(const Json& v, GoKind kind) {
  switch (kind) {
    case GoKind::STRING:
      if (v.is_string() && !v.get_ref<const std::string&>().empty()) return OrderedJson(v.get<std::string>());
      return std::nullopt;
    case GoKind::BOOL:
      if (v.is_boolean() && v.get<bool>()) return OrderedJson(true);
      return std::nullopt;
    case GoKind::OPT_BOOL:  // opt.Bool: "" (null) is omitted, true and false are written
      if (v.is_boolean()) return OrderedJson(v.get<bool>());
      if (v.is_string() && (v == "true" || v == "false")) return OrderedJson(v == "true");
      return std::nullopt;
    case GoKind::NUMBER:
      if (v.is_number() && !isZeroNumber(v)) return goNumber(v);
      return std::nullopt;
    case GoKind::STRINGS: {
      if (!v.is_array() || v.empty()) return std::nullopt;
      OrderedJson a = OrderedJson::array();
      for (const auto& e : v)
        if (e.is_string()) a.push_back(e.get<std::string>());
      return a;
    }
    case GoKind::SERVICES: {
      if (!v.is_array() || v.empty()) return std::nullopt;
      OrderedJson a = OrderedJson::array();
      for (const auto& e : v) {
        if (!e.is_object()) continue;
        OrderedJson svc = OrderedJson::object();  // Proto and Port are never omitted
        const Json* proto = findField(e, "Proto");
        const Json* port = findField(e, "Port");
        const Json* description = findField(e, "Description");
        svc["Proto"] = proto && proto->is_string() ? proto->get<std::string>() : std::string();
        svc["Port"] = port && port->is_number() ? goNumber(*port) : OrderedJson(0);
        if (description) {
          if (auto d = goValue(*description, GoKind::STRING)) svc["Description"] = *d;
        }
        a.push_back(std::move(svc));
      }
      return a;
    }
    case GoKind::FLOAT_MAP: {  // map[string]float64: keys sorted as Go sorts them
      if (!v.is_object() || v.empty()) return std::nullopt;
      OrderedJson m = OrderedJson::object();
      for (auto it = v.begin(); it != v.end(); ++it)
        if (it.value().is_number()) m[it.key()] = goNumber(it.value());
      return m;
    }
    case GoKind::NET_INFO:  // pointers: present unless null
      if (v.is_object()) return goStruct(v, NET_INFO_FIELDS);
      return std::nullopt;
    case GoKind::LOCATION:
      if (v.is_object()) return goStruct(v, LOCATION_FIELDS);
      return std::nullopt;
    case GoKind::TPM:
      if (v.is_object()) return goStruct(v, TPM_FIELDS);
      return std::nullopt;
  }
  return std::nullopt;
}

template <size_t N>
OrderedJson goStruct(const Json& in, const GoField (&fields)[N]) {
  OrderedJson out = OrderedJson::object();
  for (const auto& f : fields) {
    const Json* v = findField(in, f.name);
    if (!v) continue;
    if (auto value = goValue(*v, f.kind)) out[f.name] = std::move(*value);
  }
  return out;
}

// Hostinfo as Go's tailcfg.Node carries it; controld keeps up to MAX_NODE_HOSTINFO_JSON of it,
// else only the host name and OS are known.
OrderedJson whoIsHostinfo(const NodeFacts& node) {
  if (!node.hostinfoJson.empty()) {
    auto parsed = ipn::parseJson(node.hostinfoJson);
    if (parsed && parsed->is_object()) return goStruct(*parsed, HOSTINFO_FIELDS);
  }
  OrderedJson hi = OrderedJson::object();
  if (!node.os.empty()) hi["OS"] = node.os;
  if (!node.hostname.empty()) hi["Hostname"] = node.hostname;
  return hi;
}

bool isZeroKey(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos) return text.empty();
  return text.find_first_not_of('0', colon + 1) == std::string::npos;
}

bool equalFold(std::string_view a, std::string_view b) { return ipn::keyEqualFold(a, b); }

}  // namespace

std::pair<std::string, std::string> displayNames(const NodeFacts& node, std::string_view magicDnsSuffix) {
  // tailcfg.Node.InitDisplayNames, which Go's control client runs on every node it receives.
  std::string name = ipn::trimDnsSuffix(node.name, magicDnsSuffix);
  std::string host = node.hasHostinfo ? ipn::sanitizeHostname(node.hostname) : std::string();
  if (equalFold(name, host)) host.clear();
  if (name.empty()) {
    if (!host.empty()) {
      name = host;
      host.clear();
    } else {
      name = node.key;
    }
  }
  std::string withHost = host.empty() ? name : name + " (" + host + ")";
  return {name, withHost};
}

namespace {

OrderedJson whoIsNode(const NodeFacts& node, std::string_view magicDnsSuffix) {
  // tailcfg.Node in Go's declaration order with its omitempty/omitzero tags, for every field
  // tailnetd's netmap keeps (docs/localapi.md lists the rest).
  OrderedJson n = OrderedJson::object();
  n["ID"] = node.id;
  n["StableID"] = node.stableId;
  n["Name"] = node.name;
  n["User"] = node.userId;
  if (node.sharerId != 0) n["Sharer"] = node.sharerId;
  n["Key"] = node.key;
  if (node.keyExpiryUnix) {
    std::string t = controld::formatGoTime(node.keyExpiryUnix);
    if (t != "0001-01-01T00:00:00Z") n["KeyExpiry"] = t;
  }
  if (!isZeroKey(node.machine)) n["Machine"] = node.machine;
  if (!isZeroKey(node.discoKey)) n["DiscoKey"] = node.discoKey;
  n["Addresses"] = node.addresses.empty() ? OrderedJson(nullptr) : strings(node.addresses);  // nil → null
  if (!node.allowedIps.empty()) n["AllowedIPs"] = strings(node.allowedIps);
  if (!node.endpoints.empty()) n["Endpoints"] = strings(node.endpoints);
  if (node.homeDerp != 0) n["HomeDERP"] = node.homeDerp;
  if (node.hasHostinfo) n["Hostinfo"] = whoIsHostinfo(node);
  if (node.createdUnix) {
    std::string t = controld::formatGoTime(node.createdUnix);
    if (t != "0001-01-01T00:00:00Z") n["Created"] = t;
  }
  if (node.cap != 0) n["Cap"] = node.cap;
  if (!node.tags.empty()) n["Tags"] = strings(node.tags);
  if (!node.primaryRoutes.empty()) n["PrimaryRoutes"] = strings(node.primaryRoutes);
  if (node.lastSeenUnix) n["LastSeen"] = controld::formatGoTime(node.lastSeenUnix);
  if (node.online) n["Online"] = *node.online;
  if (node.machineAuthorized) n["MachineAuthorized"] = true;
  if (!node.capabilities.empty()) n["Capabilities"] = strings(node.capabilities);
  auto [computed, withHost] = displayNames(node, magicDnsSuffix);
  if (!computed.empty()) n["ComputedName"] = computed;
  if (!withHost.empty()) n["ComputedNameWithHost"] = withHost;
  if (node.expired) n["Expired"] = true;
  if (node.isWireGuardOnly) n["IsWireGuardOnly"] = true;
  return n;
}

}  // namespace

std::string whoIsNodeJson(const NodeFacts& node, std::string_view magicDnsSuffix, bool indent) {
  return ipn::goMarshal(whoIsNode(node, magicDnsSuffix), indent);
}

LocalApiResponse serveWhoIs(const LocalApiRequest& req, const std::optional<NetmapFacts>& nm) {
  auto addr = queryValue(req.query, "addr").value_or("");
  if (addr.empty()) return httpError(400, "missing 'addr' parameter");
  const NodeFacts* node = nullptr;
  auto consider = [&](const auto& matches) {
    if (!nm) return;
    if (nm->self && matches(*nm->self)) node = &*nm->self;
    for (const auto& p : nm->peers)
      if (!node && matches(p)) node = &p;
  };
  if (addr.starts_with("nodekey:")) {
    // Go's WhoIsNodeKey: the key must parse (64 hex digits).
    std::string_view hex = std::string_view(addr).substr(8);
    bool valid = hex.size() == 64 && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
    if (!valid) return httpError(400, "invalid nodekey in 'addr' parameter");
    std::string want = "nodekey:";
    for (char c : hex) want += (c >= 'A' && c <= 'F') ? char(c - 'A' + 'a') : c;
    consider([&](const NodeFacts& n) { return n.key == want; });
  } else {
    ipn::IpAddr ip;
    if (auto bare = ipn::parseIpAddr(addr)) {
      ip = *bare;
    } else if (auto ipp = ipn::parseIpAddrPort(addr)) {
      ip = ipp->addr;
    } else {
      return httpError(400, "invalid 'addr' parameter");
    }
    // Go unmaps ::ffff:a.b.c.d first; then an exact node address (self or peer), never a route.
    if (ip.v6 && std::all_of(ip.bytes.begin(), ip.bytes.begin() + 10, [](uint8_t b) { return b == 0; }) &&
        ip.bytes[10] == 0xff && ip.bytes[11] == 0xff) {
      ipn::IpAddr v4;
      std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.bytes.begin());
      ip = v4;
    }
    consider([&](const NodeFacts& n) {
      for (const auto& a : n.addresses) {
        auto p = ipn::parseIpPrefix(a);
        if (p && p->addr == ip) return true;
      }
      return false;
    });
  }
  if (!node) return httpError(404, "no match for IP:port");
  // Go's WhoIs fails (404) when the node's user has no profile in the netmap.
  const ipn::UserProfile* user = nullptr;
  for (const auto& u : nm->users)
    if (u.id == node->userId) user = &u;
  if (!user) return httpError(404, "no match for IP:port");

  // apitype.WhoIsResponse, json.MarshalIndent(res, "", "\t"). CapMap (no omitempty) is the
  // packet filter's CapGrant for the node's first address, which ipnd does not keep: null, as Go
  // writes it whenever no grant matches.
  OrderedJson res = OrderedJson::object();
  res["Node"] = whoIsNode(*node, nm->magicDnsSuffix);
  res["UserProfile"] = user->toJson();
  res["CapMap"] = nullptr;
  return jsonBody(200, ipn::goMarshal(res, /*indent=*/true));
}

namespace {

OrderedJson netcheckReport(const NetcheckFacts& r) {
  OrderedJson o = OrderedJson::object();
  o["Now"] = goTimeNanos(r.nowUnixNano);
  o["UDP"] = r.udp;
  o["IPv6"] = r.ipv6;
  o["IPv4"] = r.ipv4;
  o["MappingVariesByDestIP"] = optBool(r.mappingVariesByDestIp);
  o["HairPinning"] = optBool(r.hairPinning);
  o["PreferredDERP"] = r.preferredDerp;
  o["RegionLatency"] = latencyMap(r.regionLatency);
  o["RegionV4Latency"] = latencyMap(r.regionV4Latency);
  o["RegionV6Latency"] = latencyMap(r.regionV6Latency);
  o["GlobalV4"] = r.globalV4;
  o["GlobalV6"] = r.globalV6;
  o["CaptivePortal"] = optBool(r.captivePortal);
  return o;
}

}  // namespace

std::string netcheckReportJson(const NetcheckFacts& r) {
  return ipn::goMarshal(netcheckReport(r));
}

LocalApiResponse netcheckAnswer(const NetcheckFacts& r, const std::optional<NetmapFacts>& nm) {
  OrderedJson regions = OrderedJson::object();
  if (nm) {
    std::map<std::string, int32_t> sorted;
    for (const auto& [id, code] : nm->derpRegionCodes) sorted[std::to_string(id)] = id;
    for (const auto& [key, id] : sorted) {
      OrderedJson one = OrderedJson::object();
      one["RegionCode"] = nm->derpRegionCodes.at(id);
      auto name = nm->derpRegionNames.find(id);
      one["RegionName"] = name == nm->derpRegionNames.end() ? std::string() : name->second;
      regions[key] = one;
    }
  }
  OrderedJson o = OrderedJson::object();
  o["Report"] = netcheckReport(r);
  o["Regions"] = regions;
  return jsonBody(200, ipn::goMarshal(o) + "\n");
}

}  // namespace tnet::ipnd
