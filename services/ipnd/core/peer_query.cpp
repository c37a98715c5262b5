#include "services/ipnd/core/peer_query.h"

#include <charconv>

#include "libs/ipn/netip.h"
#include "services/controld/core/go_time.h"

namespace tnet::ipnd {

namespace {

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
  // Go writes a float64 with no fraction as an integer ("0", not "0.0").
  if (r.latencySeconds == double(int64_t(r.latencySeconds))) {
    o["LatencySeconds"] = int64_t(r.latencySeconds);
  } else {
    o["LatencySeconds"] = r.latencySeconds;
  }
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
  // dnsname.TrimSuffix: drop the trailing dot, and ".<suffix>" when the name ends with it.
  std::string name = node.name;
  if (!name.empty() && name.back() == '.') name.pop_back();
  std::string suffix(magicDnsSuffix);
  while (!suffix.empty() && suffix.front() == '.') suffix.erase(0, 1);
  while (!suffix.empty() && suffix.back() == '.') suffix.pop_back();
  if (!suffix.empty() && name.size() > suffix.size() + 1 && name.ends_with("." + suffix))
    name.resize(name.size() - suffix.size() - 1);
  if (!name.empty()) return name;
  if (!node.hostname.empty()) return node.hostname;
  return node.key;
}

PingResult pingSucceeded(const PingPlan& plan, int64_t latencyNs, uint16_t peerApiPort) {
  PingResult r = plan.partial;
  r.latencySeconds = double(latencyNs) / 1e9;
  r.nodeIp = r.ip;
  r.nodeName = plan.nodeName;
  r.peerApiPort = plan.type == PingType::TSMP ? peerApiPort : 0;
  return r;
}

LocalApiResponse serveWhoIs(const LocalApiRequest& req, const std::optional<NetmapFacts>& nm) {
  auto addr = queryValue(req.query, "addr").value_or("");
  if (addr.empty()) return httpError(400, "missing 'addr' parameter");
  std::string ipText;
  if (auto ip = ipn::parseIpAddr(addr)) {
    ipText = ip->toString();
  } else if (auto ipp = ipn::parseIpAddrPort(addr)) {
    ipText = ipp->addr.toString();
  } else {
    return httpError(400, "invalid 'addr' parameter");
  }
  // Go's WhoIs: an exact node address (self or peer), never a subnet route.
  const NodeFacts* node = nullptr;
  auto ip = ipn::parseIpAddr(ipText);
  auto holds = [&](const NodeFacts& n) {
    for (const auto& a : n.addresses) {
      auto p = ipn::parseIpPrefix(a);
      if (p && ip && p->addr == *ip) return true;
    }
    return false;
  };
  if (nm) {
    if (nm->self && holds(*nm->self)) node = &*nm->self;
    for (const auto& p : nm->peers)
      if (!node && holds(p)) node = &p;
  }
  if (!node) return httpError(404, "no match for IP:port");
  const ipn::UserProfile* user = nullptr;
  for (const auto& u : nm->users)
    if (u.id == node->userId) user = &u;
  // Go answers with a zero profile when the user is unknown (tagged nodes).
  ipn::UserProfile zero;
  if (!user) user = &zero;

  // tailcfg.Node in Go's field order, with the fields tailnetd's netmap keeps (docs/localapi.md).
  OrderedJson n = OrderedJson::object();
  n["ID"] = node->id;
  n["StableID"] = node->stableId;
  n["Name"] = node->name;
  n["User"] = node->userId;
  n["Key"] = node->key;
  n["KeyExpiry"] = controld::formatGoTime(node->keyExpiryUnix);
  n["DiscoKey"] = node->discoKey.empty() ? "discokey:" + std::string(64, '0') : node->discoKey;
  n["Addresses"] = strings(node->addresses);
  n["AllowedIPs"] = strings(node->allowedIps);
  n["Endpoints"] = strings(node->endpoints);
  if (node->homeDerp != 0) n["HomeDERP"] = node->homeDerp;
  OrderedJson hi = OrderedJson::object();
  if (!node->hostname.empty()) hi["Hostname"] = node->hostname;
  if (!node->os.empty()) hi["OS"] = node->os;
  n["Hostinfo"] = hi;
  n["Created"] = controld::formatGoTime(node->createdUnix);
  if (!node->tags.empty()) n["Tags"] = strings(node->tags);
  if (node->lastSeenUnix) n["LastSeen"] = controld::formatGoTime(node->lastSeenUnix);
  if (node->online) n["Online"] = *node->online;
  if (node->expired) n["Expired"] = true;

  OrderedJson res = OrderedJson::object();
  res["Node"] = n;
  res["UserProfile"] = user->toJson();
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
