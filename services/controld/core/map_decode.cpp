#include "services/controld/core/map_decode.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <limits>
#include <vector>

#include "libs/ipn/go_json.h"
#include "services/controld/core/go_time.h"

namespace tnet::controld {
namespace {

using ipn::Json;
using ipn::keyEqualFold;

// First failure wins; converters keep going with defaults and the caller checks ok().
struct Ctx {
  std::string err;
  bool ok() const { return err.empty(); }
  void fail(std::string_view where, std::string_view what) {
    if (err.empty()) err = std::string(where) + ": " + std::string(what);
  }
};

std::string at(std::string_view a, std::string_view b) { return std::string(a) + "." + std::string(b); }

void getString(Ctx& c, const Json& v, std::string& out, std::string_view where) {
  if (v.is_null()) return;
  if (!v.is_string()) return c.fail(where, "expected a string");
  out = v.get_ref<const std::string&>();
}

void getBool(Ctx& c, const Json& v, bool& out, std::string_view where) {
  if (v.is_null()) return;
  if (!v.is_boolean()) return c.fail(where, "expected a bool");
  out = v.get<bool>();
}

void getOptBool(Ctx& c, const Json& v, std::optional<bool>& out, std::string_view where) {
  if (v.is_null()) {
    out.reset();
    return;
  }
  if (!v.is_boolean()) return c.fail(where, "expected a bool or null");
  out = v.get<bool>();
}

template <typename T>
void getInt(Ctx& c, const Json& v, T& out, std::string_view where) {
  if (v.is_null()) return;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return c.fail(where, "number out of range");
      out = static_cast<T>(u);
      return;
    }
    int64_t s = v.get<int64_t>();
    if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        s > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      return c.fail(where, "number out of range");
    }
    out = static_cast<T>(s);
    return;
  }
  c.fail(where, "expected an integer");
}

void getDouble(Ctx& c, const Json& v, double& out, std::string_view where) {
  if (v.is_null()) return;
  if (!v.is_number()) return c.fail(where, "expected a number");
  out = v.get<double>();
}

void getStrings(Ctx& c, const Json& v, std::vector<std::string>& out, std::string_view where) {
  out.clear();
  if (v.is_null()) return;
  if (!v.is_array()) return c.fail(where, "expected an array of strings");
  out.reserve(v.size());
  for (const auto& e : v) {
    if (!e.is_string()) return c.fail(where, "expected an array of strings");
    out.push_back(e.get<std::string>());
  }
}

template <typename K>
void getKey(Ctx& c, const Json& v, K& out, std::string_view where) {
  if (v.is_null()) {
    out = K();
    return;
  }
  if (!v.is_string()) return c.fail(where, "expected a key string");
  auto k = K::parse(v.get_ref<const std::string&>());
  if (!k) return c.fail(where, k.error().message);
  out = *k;
}

void getTime(Ctx& c, const Json& v, std::optional<int64_t>& out, std::string_view where) {
  if (v.is_null()) {
    out.reset();
    return;
  }
  if (!v.is_string()) return c.fail(where, "expected an RFC 3339 time");
  auto t = parseGoTime(v.get_ref<const std::string&>());
  if (!t) return c.fail(where, t.error().message);
  out = *t;
}

void getPrefixes(Ctx& c, const Json& v, std::vector<ipn::IpPrefix>& out, std::string_view where) {
  out.clear();
  if (v.is_null()) return;
  if (!v.is_array()) return c.fail(where, "expected an array of CIDR prefixes");
  out.reserve(v.size());
  for (const auto& e : v) {
    if (!e.is_string()) return c.fail(where, "expected an array of CIDR prefixes");
    auto p = ipn::parseIpPrefix(e.get_ref<const std::string&>());
    if (!p) return c.fail(where, p.error().message);
    out.push_back(std::move(*p));
  }
}

void getAddrPorts(Ctx& c, const Json& v, std::vector<ipn::IpAddrPort>& out, std::string_view where) {
  out.clear();
  if (v.is_null()) return;
  if (!v.is_array()) return c.fail(where, "expected an array of ip:port");
  out.reserve(v.size());
  for (const auto& e : v) {
    if (!e.is_string()) return c.fail(where, "expected an array of ip:port");
    auto p = ipn::parseIpAddrPort(e.get_ref<const std::string&>());
    if (!p) return c.fail(where, p.error().message);
    out.push_back(std::move(*p));
  }
}

void getCapMap(Ctx& c, const Json& v, std::map<std::string, std::string>& out, std::string_view where) {
  out.clear();
  if (v.is_null()) return;
  if (!v.is_object()) return c.fail(where, "expected an object");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_null() && !it.value().is_array()) return c.fail(where, "values must be arrays or null");
    out[it.key()] = it.value().dump();
  }
}

// Integer-keyed Go maps use decimal-string JSON keys.
template <typename T>
bool parseIntKey(const std::string& k, T& out) {
  auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), out);
  return ec == std::errc() && p == k.data() + k.size();
}

bool requireObject(Ctx& c, const Json& v, std::string_view where) {
  if (v.is_object()) return true;
  c.fail(where, "expected an object");
  return false;
}

// The legacy Node.DERP "127.3.3.40:<region>" (tailcfg.DerpMagicIP).
void getLegacyDerp(Ctx& c, const Json& v, int& out, std::string_view where) {
  std::string s;
  getString(c, v, s, where);
  if (s.empty()) return;
  constexpr std::string_view MAGIC = "127.3.3.40:";
  if (s.compare(0, MAGIC.size(), MAGIC) != 0) return c.fail(where, "not 127.3.3.40:<region>");
  int region = 0;
  if (!parseIntKey(s.substr(MAGIC.size()), region) || region < 0) return c.fail(where, "bad region");
  out = region;
}

// The encoded size of v (escapes aside: the dump is checked again), or SIZE_MAX
// once it passes `budget` or nests deeper than `depth`: a hostile Hostinfo costs at most the cap.
size_t boundedJsonSize(const Json& v, int depth, size_t budget) {
  if (depth < 0) return SIZE_MAX;
  size_t total = 0;
  auto add = [&](size_t n) {
    total = n > budget - std::min(total, budget) ? SIZE_MAX : total + n;
    return total != SIZE_MAX;
  };
  if (v.is_object()) {
    add(2);
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!add(it.key().size() + 4)) return SIZE_MAX;
      size_t n = boundedJsonSize(it.value(), depth - 1, budget - total);
      if (n == SIZE_MAX || !add(n)) return SIZE_MAX;
    }
  } else if (v.is_array()) {
    add(2);
    for (const auto& e : v) {
      size_t n = boundedJsonSize(e, depth - 1, budget - total);
      if (n == SIZE_MAX || !add(n + 1)) return SIZE_MAX;
    }
  } else if (v.is_string()) {
    add(v.get_ref<const std::string&>().size() + 2);
  } else {
    add(32);
  }
  return total;
}

std::string boundedHostinfoJson(const Json& v) {
  if (!v.is_object()) return "";
  if (boundedJsonSize(v, MAX_NODE_HOSTINFO_DEPTH, MAX_NODE_HOSTINFO_JSON) == SIZE_MAX) return "";
  std::string out = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return out.size() <= MAX_NODE_HOSTINFO_JSON ? out : "";
}

PeerHostinfo convertPeerHostinfo(Ctx& c, const Json& v) {
  PeerHostinfo h;
  if (!requireObject(c, v, "Hostinfo")) return h;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (keyEqualFold(k, "OS")) getString(c, f, h.os, "Hostinfo.OS");
    else if (keyEqualFold(k, "OSVersion")) getString(c, f, h.osVersion, "Hostinfo.OSVersion");
    else if (keyEqualFold(k, "Hostname")) getString(c, f, h.hostname, "Hostinfo.Hostname");
    else if (keyEqualFold(k, "IPNVersion")) getString(c, f, h.ipnVersion, "Hostinfo.IPNVersion");
    else if (keyEqualFold(k, "RoutableIPs")) getPrefixes(c, f, h.routableIps, "Hostinfo.RoutableIPs");
    else if (keyEqualFold(k, "sshHostKeys")) getStrings(c, f, h.sshHostKeys, "Hostinfo.sshHostKeys");
    else if (keyEqualFold(k, "ShieldsUp")) getBool(c, f, h.shieldsUp, "Hostinfo.ShieldsUp");
    else if (keyEqualFold(k, "Services")) {
      if (f.is_null()) continue;
      if (!f.is_array()) return c.fail("Hostinfo.Services", "expected an array"), h;
      for (const auto& s : f) {
        if (!requireObject(c, s, "Hostinfo.Services[]")) return h;
        PeerHostinfo::Service svc;
        for (auto si = s.begin(); si != s.end(); ++si) {
          if (keyEqualFold(si.key(), "Proto")) getString(c, si.value(), svc.proto, "Service.Proto");
          else if (keyEqualFold(si.key(), "Port")) getInt(c, si.value(), svc.port, "Service.Port");
        }
        h.services.push_back(std::move(svc));
      }
    }
  }
  return h;
}

Node convertNode(Ctx& c, const Json& v, std::string_view where) {
  Node n;
  if (!requireObject(c, v, where)) return n;
  int legacyDerp = 0;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    auto w = [&](std::string_view name) { return at(where, name); };
    if (keyEqualFold(k, "ID")) getInt(c, f, n.id, w("ID"));
    else if (keyEqualFold(k, "StableID")) getString(c, f, n.stableId, w("StableID"));
    else if (keyEqualFold(k, "Name")) getString(c, f, n.name, w("Name"));
    else if (keyEqualFold(k, "User")) getInt(c, f, n.user, w("User"));
    else if (keyEqualFold(k, "Sharer")) getInt(c, f, n.sharer, w("Sharer"));
    else if (keyEqualFold(k, "Key")) getKey(c, f, n.key, w("Key"));
    else if (keyEqualFold(k, "KeyExpiry")) getTime(c, f, n.keyExpiry, w("KeyExpiry"));
    else if (keyEqualFold(k, "KeySignature")) getString(c, f, n.keySignature, w("KeySignature"));
    else if (keyEqualFold(k, "Machine")) getKey(c, f, n.machine, w("Machine"));
    else if (keyEqualFold(k, "DiscoKey")) getKey(c, f, n.discoKey, w("DiscoKey"));
    else if (keyEqualFold(k, "Addresses")) getPrefixes(c, f, n.addresses, w("Addresses"));
    else if (keyEqualFold(k, "AllowedIPs")) {
      if (f.is_null()) {
        n.allowedIps.reset();
      } else {
        n.allowedIps.emplace();
        getPrefixes(c, f, *n.allowedIps, w("AllowedIPs"));
      }
    } else if (keyEqualFold(k, "Endpoints")) getAddrPorts(c, f, n.endpoints, w("Endpoints"));
    else if (keyEqualFold(k, "HomeDERP")) getInt(c, f, n.homeDerp, w("HomeDERP"));
    else if (keyEqualFold(k, "DERP")) getLegacyDerp(c, f, legacyDerp, w("DERP"));
    else if (keyEqualFold(k, "Hostinfo")) {
      if (!f.is_null()) n.hostinfo = convertPeerHostinfo(c, f);
      if (c.ok() && !f.is_null()) n.hostinfoJson = boundedHostinfoJson(f);
    } else if (keyEqualFold(k, "Created")) getTime(c, f, n.created, w("Created"));
    else if (keyEqualFold(k, "LastSeen")) getTime(c, f, n.lastSeen, w("LastSeen"));
    else if (keyEqualFold(k, "Online")) getOptBool(c, f, n.online, w("Online"));
    else if (keyEqualFold(k, "Cap")) getInt(c, f, n.cap, w("Cap"));
    else if (keyEqualFold(k, "Tags")) getStrings(c, f, n.tags, w("Tags"));
    else if (keyEqualFold(k, "PrimaryRoutes")) getPrefixes(c, f, n.primaryRoutes, w("PrimaryRoutes"));
    else if (keyEqualFold(k, "Capabilities")) getStrings(c, f, n.capabilities, w("Capabilities"));
    else if (keyEqualFold(k, "CapMap")) getCapMap(c, f, n.capMap, w("CapMap"));
    else if (keyEqualFold(k, "MachineAuthorized")) getBool(c, f, n.machineAuthorized, w("MachineAuthorized"));
    else if (keyEqualFold(k, "Expired")) getBool(c, f, n.expired, w("Expired"));
    else if (keyEqualFold(k, "UnsignedPeerAPIOnly")) getBool(c, f, n.unsignedPeerApiOnly, w("UnsignedPeerAPIOnly"));
    else if (keyEqualFold(k, "IsWireGuardOnly")) getBool(c, f, n.isWireGuardOnly, w("IsWireGuardOnly"));
  }
  // A server older than capver 111 sends only the legacy string.
  if (n.homeDerp == 0) n.homeDerp = legacyDerp;
  return n;
}

PeerChange convertPeerChange(Ctx& c, const Json& v) {
  PeerChange p;
  if (!requireObject(c, v, "PeersChangedPatch[]")) return p;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (keyEqualFold(k, "NodeID")) getInt(c, f, p.nodeId, "PeerChange.NodeID");
    else if (keyEqualFold(k, "DERPRegion")) getInt(c, f, p.derpRegion, "PeerChange.DERPRegion");
    else if (keyEqualFold(k, "Cap")) getInt(c, f, p.cap, "PeerChange.Cap");
    else if (keyEqualFold(k, "CapMap")) {
      if (!f.is_null()) getCapMap(c, f, p.capMap.emplace(), "PeerChange.CapMap");
    } else if (keyEqualFold(k, "Endpoints")) {
      if (!f.is_null()) getAddrPorts(c, f, p.endpoints.emplace(), "PeerChange.Endpoints");
    } else if (keyEqualFold(k, "Key")) {
      if (!f.is_null()) getKey(c, f, p.key.emplace(), "PeerChange.Key");
    } else if (keyEqualFold(k, "KeySignature")) {
      if (!f.is_null()) getString(c, f, p.keySignature.emplace(), "PeerChange.KeySignature");
    } else if (keyEqualFold(k, "DiscoKey")) {
      if (!f.is_null()) getKey(c, f, p.discoKey.emplace(), "PeerChange.DiscoKey");
    } else if (keyEqualFold(k, "Online")) getOptBool(c, f, p.online, "PeerChange.Online");
    else if (keyEqualFold(k, "LastSeen")) getTime(c, f, p.lastSeen, "PeerChange.LastSeen");
    else if (keyEqualFold(k, "KeyExpiry")) {
      if (!f.is_null()) getTime(c, f, p.keyExpiry.emplace(), "PeerChange.KeyExpiry");
    }
  }
  if (c.ok() && p.nodeId == 0) c.fail("PeerChange.NodeID", "missing or zero");
  return p;
}

DerpNode convertDerpNode(Ctx& c, const Json& v) {
  DerpNode n;
  if (!requireObject(c, v, "DERPNode")) return n;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (keyEqualFold(k, "Name")) getString(c, f, n.name, "DERPNode.Name");
    else if (keyEqualFold(k, "RegionID")) getInt(c, f, n.regionId, "DERPNode.RegionID");
    else if (keyEqualFold(k, "HostName")) getString(c, f, n.hostName, "DERPNode.HostName");
    else if (keyEqualFold(k, "CertName")) getString(c, f, n.certName, "DERPNode.CertName");
    else if (keyEqualFold(k, "IPv4")) getString(c, f, n.ipv4, "DERPNode.IPv4");
    else if (keyEqualFold(k, "IPv6")) getString(c, f, n.ipv6, "DERPNode.IPv6");
    else if (keyEqualFold(k, "STUNPort")) getInt(c, f, n.stunPort, "DERPNode.STUNPort");
    else if (keyEqualFold(k, "STUNOnly")) getBool(c, f, n.stunOnly, "DERPNode.STUNOnly");
    else if (keyEqualFold(k, "DERPPort")) getInt(c, f, n.derpPort, "DERPNode.DERPPort");
    else if (keyEqualFold(k, "InsecureForTests")) getBool(c, f, n.insecureForTests, "DERPNode.InsecureForTests");
    else if (keyEqualFold(k, "STUNTestIP")) getString(c, f, n.stunTestIp, "DERPNode.STUNTestIP");
    else if (keyEqualFold(k, "CanPort80")) getBool(c, f, n.canPort80, "DERPNode.CanPort80");
  }
  if (c.ok() && (n.stunPort < -1 || n.stunPort > 65535)) c.fail("DERPNode.STUNPort", "out of range");
  if (c.ok() && (n.derpPort < 0 || n.derpPort > 65535)) c.fail("DERPNode.DERPPort", "out of range");
  return n;
}

DerpRegion convertDerpRegion(Ctx& c, const Json& v) {
  DerpRegion r;
  if (!requireObject(c, v, "DERPRegion")) return r;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (keyEqualFold(k, "RegionID")) getInt(c, f, r.regionId, "DERPRegion.RegionID");
    else if (keyEqualFold(k, "RegionCode")) getString(c, f, r.regionCode, "DERPRegion.RegionCode");
    else if (keyEqualFold(k, "RegionName")) getString(c, f, r.regionName, "DERPRegion.RegionName");
    else if (keyEqualFold(k, "Latitude")) getDouble(c, f, r.latitude, "DERPRegion.Latitude");
    else if (keyEqualFold(k, "Longitude")) getDouble(c, f, r.longitude, "DERPRegion.Longitude");
    else if (keyEqualFold(k, "Avoid")) getBool(c, f, r.avoid, "DERPRegion.Avoid");
    else if (keyEqualFold(k, "NoMeasureNoHome")) getBool(c, f, r.noMeasureNoHome, "DERPRegion.NoMeasureNoHome");
    else if (keyEqualFold(k, "Nodes")) {
      if (f.is_null()) continue;
      if (!f.is_array()) return c.fail("DERPRegion.Nodes", "expected an array"), r;
      for (const auto& e : f) r.nodes.push_back(convertDerpNode(c, e));
    }
  }
  return r;
}

DerpMap convertDerpMap(Ctx& c, const Json& v) {
  DerpMap m;
  if (!requireObject(c, v, "DERPMap")) return m;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (keyEqualFold(k, "omitDefaultRegions")) getBool(c, f, m.omitDefaultRegions, "DERPMap.omitDefaultRegions");
    else if (keyEqualFold(k, "Regions")) {
      if (f.is_null()) continue;
      if (!requireObject(c, f, "DERPMap.Regions")) return m;
      auto& regions = m.regions.emplace();
      for (auto ri = f.begin(); ri != f.end() && c.ok(); ++ri) {
        int id = 0;
        if (!parseIntKey(ri.key(), id) || id <= 0) return c.fail("DERPMap.Regions", "region IDs must be positive integers"), m;
        // Go drops null regions (Headscale sends them).
        if (ri.value().is_null()) continue;
        regions[id] = convertDerpRegion(c, ri.value());
      }
    } else if (keyEqualFold(k, "HomeParams")) {
      if (f.is_null()) continue;
      if (!requireObject(c, f, "DERPMap.HomeParams")) return m;
      auto& hp = m.homeParams.emplace();
      for (auto hi = f.begin(); hi != f.end() && c.ok(); ++hi) {
        if (!keyEqualFold(hi.key(), "RegionScore") || hi.value().is_null()) continue;
        if (!requireObject(c, hi.value(), "DERPHomeParams.RegionScore")) return m;
        auto& scores = hp.regionScore.emplace();
        for (auto si = hi.value().begin(); si != hi.value().end(); ++si) {
          int id = 0;
          double score = 0;
          if (!parseIntKey(si.key(), id)) return c.fail("DERPHomeParams.RegionScore", "bad region ID"), m;
          getDouble(c, si.value(), score, "DERPHomeParams.RegionScore");
          scores[id] = score;
        }
      }
    }
  }
  return m;
}

std::vector<DnsResolver> convertResolvers(Ctx& c, const Json& v, std::string_view where) {
  std::vector<DnsResolver> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return c.fail(where, "expected an array of resolvers"), out;
  for (const auto& e : v) {
    if (!requireObject(c, e, where)) return out;
    DnsResolver r;
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (keyEqualFold(it.key(), "Addr")) getString(c, it.value(), r.addr, "Resolver.Addr");
      else if (keyEqualFold(it.key(), "BootstrapResolution")) getStrings(c, it.value(), r.bootstrapResolution, "Resolver.BootstrapResolution");
      else if (keyEqualFold(it.key(), "UseWithExitNode")) getBool(c, it.value(), r.useWithExitNode, "Resolver.UseWithExitNode");
    }
    out.push_back(std::move(r));
  }
  return out;
}

DnsConfig convertDns(Ctx& c, const Json& v) {
  DnsConfig d;
  if (!requireObject(c, v, "DNSConfig")) return d;
  for (auto it = v.begin(); it != v.end() && c.ok(); ++it) {
    const std::string& k = it.key();
    const Json& f = it.value();
    if (keyEqualFold(k, "Resolvers")) d.resolvers = convertResolvers(c, f, "DNSConfig.Resolvers");
    else if (keyEqualFold(k, "FallbackResolvers")) d.fallbackResolvers = convertResolvers(c, f, "DNSConfig.FallbackResolvers");
    else if (keyEqualFold(k, "Routes")) {
      if (f.is_null()) continue;
      if (!requireObject(c, f, "DNSConfig.Routes")) return d;
      for (auto ri = f.begin(); ri != f.end(); ++ri) d.routes[ri.key()] = convertResolvers(c, ri.value(), "DNSConfig.Routes");
    } else if (keyEqualFold(k, "Domains")) getStrings(c, f, d.domains, "DNSConfig.Domains");
    else if (keyEqualFold(k, "Proxied")) getBool(c, f, d.proxied, "DNSConfig.Proxied");
    else if (keyEqualFold(k, "Nameservers")) getStrings(c, f, d.nameservers, "DNSConfig.Nameservers");
    else if (keyEqualFold(k, "CertDomains")) getStrings(c, f, d.certDomains, "DNSConfig.CertDomains");
    else if (keyEqualFold(k, "ExitNodeFilteredSet")) getStrings(c, f, d.exitNodeFilteredSet, "DNSConfig.ExitNodeFilteredSet");
    else if (keyEqualFold(k, "ExtraRecords")) {
      if (f.is_null()) continue;
      if (!f.is_array()) return c.fail("DNSConfig.ExtraRecords", "expected an array"), d;
      for (const auto& e : f) {
        if (!requireObject(c, e, "DNSConfig.ExtraRecords[]")) return d;
        DnsRecord r;
        for (auto ei = e.begin(); ei != e.end(); ++ei) {
          if (keyEqualFold(ei.key(), "Name")) getString(c, ei.value(), r.name, "DNSRecord.Name");
          else if (keyEqualFold(ei.key(), "Type")) getString(c, ei.value(), r.type, "DNSRecord.Type");
          else if (keyEqualFold(ei.key(), "Value")) getString(c, ei.value(), r.value, "DNSRecord.Value");
        }
        d.extraRecords.push_back(std::move(r));
      }
    }
  }
  return d;
}

std::vector<FilterRule> convertFilter(Ctx& c, const Json& v, std::string_view where) {
  std::vector<FilterRule> out;
  if (!v.is_array()) return c.fail(where, "expected an array of FilterRule"), out;
  for (const auto& e : v) {
    if (!requireObject(c, e, where)) return out;
    FilterRule r;
    for (auto it = e.begin(); it != e.end() && c.ok(); ++it) {
      const std::string& k = it.key();
      const Json& f = it.value();
      if (keyEqualFold(k, "SrcIPs")) getStrings(c, f, r.srcIps, "FilterRule.SrcIPs");
      else if (keyEqualFold(k, "IPProto")) {
        if (f.is_null()) continue;
        if (!f.is_array()) return c.fail("FilterRule.IPProto", "expected an array"), out;
        for (const auto& p : f) {
          int proto = 0;
          getInt(c, p, proto, "FilterRule.IPProto");
          r.ipProto.push_back(proto);
        }
      } else if (keyEqualFold(k, "CapGrant")) {
        if (!f.is_null()) r.capGrantJson = f.dump();
      } else if (keyEqualFold(k, "DstPorts")) {
        if (f.is_null()) continue;
        if (!f.is_array()) return c.fail("FilterRule.DstPorts", "expected an array"), out;
        for (const auto& d : f) {
          if (!requireObject(c, d, "FilterRule.DstPorts[]")) return out;
          FilterDstPorts dp;
          for (auto di = d.begin(); di != d.end(); ++di) {
            if (keyEqualFold(di.key(), "IP")) getString(c, di.value(), dp.ip, "NetPortRange.IP");
            else if (keyEqualFold(di.key(), "Bits")) {
              if (!di.value().is_null()) getInt(c, di.value(), dp.bits, "NetPortRange.Bits");
            } else if (keyEqualFold(di.key(), "Ports")) {
              if (di.value().is_null()) continue;
              if (!requireObject(c, di.value(), "NetPortRange.Ports")) return out;
              for (auto pi = di.value().begin(); pi != di.value().end(); ++pi) {
                if (keyEqualFold(pi.key(), "First")) getInt(c, pi.value(), dp.first, "PortRange.First");
                else if (keyEqualFold(pi.key(), "Last")) getInt(c, pi.value(), dp.last, "PortRange.Last");
              }
            }
          }
          r.dstPorts.push_back(std::move(dp));
        }
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

UserProfile convertUserProfile(Ctx& c, const Json& v) {
  UserProfile u;
  if (!requireObject(c, v, "UserProfile")) return u;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (keyEqualFold(it.key(), "ID")) getInt(c, it.value(), u.id, "UserProfile.ID");
    else if (keyEqualFold(it.key(), "LoginName")) getString(c, it.value(), u.loginName, "UserProfile.LoginName");
    else if (keyEqualFold(it.key(), "DisplayName")) getString(c, it.value(), u.displayName, "UserProfile.DisplayName");
    else if (keyEqualFold(it.key(), "ProfilePicURL")) getString(c, it.value(), u.profilePicUrl, "UserProfile.ProfilePicURL");
  }
  return u;
}

PingRequest convertPing(Ctx& c, const Json& v) {
  PingRequest p;
  if (!requireObject(c, v, "PingRequest")) return p;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (keyEqualFold(it.key(), "URL")) getString(c, it.value(), p.url, "PingRequest.URL");
    else if (keyEqualFold(it.key(), "URLIsNoise")) getBool(c, it.value(), p.urlIsNoise, "PingRequest.URLIsNoise");
    else if (keyEqualFold(it.key(), "Log")) getBool(c, it.value(), p.log, "PingRequest.Log");
    else if (keyEqualFold(it.key(), "Types")) getString(c, it.value(), p.types, "PingRequest.Types");
    else if (keyEqualFold(it.key(), "IP")) getString(c, it.value(), p.ip, "PingRequest.IP");
    else if (keyEqualFold(it.key(), "Payload")) getString(c, it.value(), p.payload, "PingRequest.Payload");
  }
  return p;
}

void convertIdBoolMap(Ctx& c, const Json& v, std::map<NodeId, bool>& out, std::string_view where) {
  if (v.is_null()) return;
  if (!requireObject(c, v, where)) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    NodeId id = 0;
    if (!parseIntKey(it.key(), id)) return c.fail(where, "keys must be node IDs");
    bool b = false;
    getBool(c, it.value(), b, where);
    out[id] = b;
  }
}

enum class Field {
  UNKNOWN, MAP_SESSION_HANDLE, SEQ, KEEP_ALIVE, PING_REQUEST, POP_BROWSER_URL, NODE, DERP_MAP,
  PEERS, PEERS_CHANGED, PEERS_REMOVED, PEERS_CHANGED_PATCH, PEER_SEEN_CHANGE, ONLINE_CHANGE,
  DNS_CONFIG, DOMAIN, COLLECT_SERVICES, PACKET_FILTER, PACKET_FILTERS, USER_PROFILES, HEALTH,
  CONTROL_TIME,
};

Field fieldOf(std::string_view k) {
  static constexpr std::pair<std::string_view, Field> FIELDS[] = {
      {"MapSessionHandle", Field::MAP_SESSION_HANDLE}, {"Seq", Field::SEQ},
      {"KeepAlive", Field::KEEP_ALIVE}, {"PingRequest", Field::PING_REQUEST},
      {"PopBrowserURL", Field::POP_BROWSER_URL}, {"Node", Field::NODE},
      {"DERPMap", Field::DERP_MAP}, {"Peers", Field::PEERS},
      {"PeersChanged", Field::PEERS_CHANGED}, {"PeersRemoved", Field::PEERS_REMOVED},
      {"PeersChangedPatch", Field::PEERS_CHANGED_PATCH}, {"PeerSeenChange", Field::PEER_SEEN_CHANGE},
      {"OnlineChange", Field::ONLINE_CHANGE}, {"DNSConfig", Field::DNS_CONFIG},
      {"Domain", Field::DOMAIN}, {"CollectServices", Field::COLLECT_SERVICES},
      {"PacketFilter", Field::PACKET_FILTER}, {"PacketFilters", Field::PACKET_FILTERS},
      {"UserProfiles", Field::USER_PROFILES}, {"Health", Field::HEALTH},
      {"ControlTime", Field::CONTROL_TIME},
  };
  for (const auto& [name, f] : FIELDS) {
    if (name == k) return f;
  }
  for (const auto& [name, f] : FIELDS) {
    if (keyEqualFold(name, k)) return f;
  }
  return Field::UNKNOWN;
}

void applyField(Ctx& c, MapResponse& r, Field field, const Json& v) {
  switch (field) {
    case Field::UNKNOWN: break;
    case Field::MAP_SESSION_HANDLE: getString(c, v, r.mapSessionHandle, "MapSessionHandle"); break;
    case Field::SEQ: getInt(c, v, r.seq, "Seq"); break;
    case Field::KEEP_ALIVE: getBool(c, v, r.keepAlive, "KeepAlive"); break;
    case Field::PING_REQUEST:
      if (!v.is_null()) r.pingRequest = convertPing(c, v);
      break;
    case Field::POP_BROWSER_URL: getString(c, v, r.popBrowserUrl, "PopBrowserURL"); break;
    case Field::NODE:
      if (!v.is_null()) r.node = convertNode(c, v, "Node");
      break;
    case Field::DERP_MAP:
      if (!v.is_null()) r.derpMap = convertDerpMap(c, v);
      break;
    case Field::PEERS:
    case Field::PEERS_CHANGED:
      // Only reached for null (arrays are streamed element by element) or a wrong kind.
      if (!v.is_null()) c.fail(field == Field::PEERS ? "Peers" : "PeersChanged", "expected an array of Node");
      break;
    case Field::PEERS_REMOVED:
      if (v.is_null()) break;
      if (!v.is_array()) return c.fail("PeersRemoved", "expected an array of node IDs");
      for (const auto& e : v) {
        NodeId id = 0;
        getInt(c, e, id, "PeersRemoved");
        r.peersRemoved.push_back(id);
      }
      break;
    case Field::PEERS_CHANGED_PATCH:
      if (v.is_null()) break;
      if (!v.is_array()) return c.fail("PeersChangedPatch", "expected an array");
      for (const auto& e : v) {
        if (e.is_null()) continue;
        r.peersChangedPatch.push_back(convertPeerChange(c, e));
      }
      break;
    case Field::PEER_SEEN_CHANGE: convertIdBoolMap(c, v, r.peerSeenChange, "PeerSeenChange"); break;
    case Field::ONLINE_CHANGE: convertIdBoolMap(c, v, r.onlineChange, "OnlineChange"); break;
    case Field::DNS_CONFIG:
      if (!v.is_null()) r.dnsConfig = convertDns(c, v);
      break;
    case Field::DOMAIN: getString(c, v, r.domain, "Domain"); break;
    case Field::COLLECT_SERVICES: getOptBool(c, v, r.collectServices, "CollectServices"); break;
    case Field::PACKET_FILTER:
      if (!v.is_null()) r.packetFilter = convertFilter(c, v, "PacketFilter");
      break;
    case Field::PACKET_FILTERS: {
      if (v.is_null()) break;
      if (!requireObject(c, v, "PacketFilters")) return;
      auto& m = r.packetFilters.emplace();
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.value().is_null()) {
          m[it.key()] = std::nullopt;
        } else {
          m[it.key()] = convertFilter(c, it.value(), "PacketFilters");
        }
      }
      break;
    }
    case Field::USER_PROFILES:
      if (v.is_null()) break;
      if (!v.is_array()) return c.fail("UserProfiles", "expected an array");
      for (const auto& e : v) r.userProfiles.push_back(convertUserProfile(c, e));
      break;
    case Field::HEALTH:
      if (v.is_null()) break;
      getStrings(c, v, r.health.emplace(), "Health");
      break;
    case Field::CONTROL_TIME: getTime(c, v, r.controlTime, "ControlTime"); break;
  }
}

// nlohmann SAX handler. Depth 1 is the MapResponse object. Peers/PeersChanged arrays stream
// their elements (depth 3 objects) through the DOM builder one at a time; any other known field
// is built as a DOM of that field alone; unknown fields are skipped by depth counting.
class MapSax {
 public:
  explicit MapSax(MapResponse& out) : out_(out) {}

  bool null() { return scalar(Json(nullptr)); }
  bool boolean(bool v) { return scalar(Json(v)); }
  bool number_integer(int64_t v) { return scalar(Json(v)); }
  bool number_unsigned(uint64_t v) { return scalar(Json(v)); }
  bool number_float(double v, const std::string&) { return scalar(Json(v)); }
  bool string(std::string& v) { return scalar(Json(std::move(v))); }
  bool binary(Json::binary_t&) { return fail("binary values are not JSON"); }

  bool start_object(size_t) { return open(Json::object()); }
  bool start_array(size_t) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    if (depth_ == 1) {
      field_ = fieldOf(k);
      if (field_ != Field::UNKNOWN) out_.sawAnyField = true;
      return true;
    }
    if (building_) key_ = std::move(k);
    return true;
  }

  bool parse_error(size_t pos, const std::string&, const nlohmann::detail::exception&) {
    if (ctx_.ok()) ctx_.fail("MapResponse", "malformed JSON at byte " + std::to_string(pos));
    return false;
  }

  Ctx ctx_;

 private:
  bool fail(std::string_view what) {
    ctx_.fail("MapResponse", what);
    return false;
  }

  bool streamingPeers() const {
    return (field_ == Field::PEERS || field_ == Field::PEERS_CHANGED) && peersArrayOpen_;
  }

  bool scalar(Json v) {
    if (depth_ == 0) return fail("expected a JSON object");
    if (building_) {
      add(std::move(v));
      return true;
    }
    if (skipping_) return true;
    if (depth_ == 2 && streamingPeers()) {
      return fail(std::string(field_ == Field::PEERS ? "Peers" : "PeersChanged") + " elements must be objects");
    }
    // depth 1: a top-level scalar field.
    applyField(ctx_, out_, field_, v);
    return ctx_.ok();
  }

  bool open(Json container) {
    if (depth_ + 1 > MAX_JSON_DEPTH) return fail("JSON nested too deeply");
    if (depth_ == 0) {
      if (!container.is_object()) return fail("expected a JSON object");
      depth_ = 1;
      return true;
    }
    if (building_) {
      push(std::move(container));
      ++depth_;
      return true;
    }
    if (skipping_) {
      ++depth_;
      return true;
    }
    if (depth_ == 1 && (field_ == Field::PEERS || field_ == Field::PEERS_CHANGED) && container.is_array()) {
      peersArrayOpen_ = true;
      auto& list = field_ == Field::PEERS ? out_.peers : out_.peersChanged;
      list.emplace();
      ++depth_;
      return true;
    }
    if (depth_ == 1 && field_ == Field::UNKNOWN) {
      skipping_ = true;
      skipDepth_ = depth_;
      ++depth_;
      return true;
    }
    // Start a DOM for this field (depth 1) or this peer (depth 2 inside a peers array).
    building_ = true;
    buildDepth_ = depth_;
    root_ = Json();
    stack_.clear();
    push(std::move(container));
    ++depth_;
    return true;
  }

  bool close() {
    --depth_;
    if (building_) {
      stack_.pop_back();
      if (depth_ == buildDepth_) {
        building_ = false;
        finishBuilt();
      }
      return ctx_.ok();
    }
    if (skipping_) {
      if (depth_ == skipDepth_) skipping_ = false;
      return true;
    }
    if (depth_ == 1 && peersArrayOpen_) peersArrayOpen_ = false;
    return true;
  }

  void finishBuilt() {
    if (buildDepth_ == 2) {
      auto& list = field_ == Field::PEERS ? out_.peers : out_.peersChanged;
      list->push_back(convertNode(ctx_, root_, field_ == Field::PEERS ? "Peers[]" : "PeersChanged[]"));
    } else {
      applyField(ctx_, out_, field_, root_);
    }
    root_ = Json();
  }

  void add(Json v) {
    Json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(std::move(v));
    } else {
      (*top)[key_] = std::move(v);
    }
  }

  void push(Json container) {
    if (stack_.empty()) {
      root_ = std::move(container);
      stack_.push_back(&root_);
      return;
    }
    Json* top = stack_.back();
    // The parent stays untouched while this child is open, so the pointer stays valid.
    if (top->is_array()) {
      top->push_back(std::move(container));
      stack_.push_back(&top->back());
    } else {
      Json& slot = (*top)[key_];
      slot = std::move(container);
      stack_.push_back(&slot);
    }
  }

  MapResponse& out_;
  size_t depth_ = 0;
  Field field_ = Field::UNKNOWN;
  bool peersArrayOpen_ = false;
  bool building_ = false;
  size_t buildDepth_ = 0;
  bool skipping_ = false;
  size_t skipDepth_ = 0;
  Json root_;
  std::vector<Json*> stack_;
  std::string key_;
};

}  // namespace

Result<MapResponse> decodeMapResponse(std::string_view json) {
  MapResponse out;
  MapSax sax(out);
  bool ok = false;
  try {
    ok = Json::sax_parse(json.begin(), json.end(), &sax, nlohmann::detail::input_format_t::json, true);
  } catch (const std::exception&) {
    // nlohmann may throw for input it rejects before calling parse_error (not expected for JSON
    // text; kept so hostile bytes can never escape as an exception).
    ok = false;
  }
  if (!sax.ctx_.ok()) return Error::invalid("MapResponse: " + sax.ctx_.err);
  if (!ok) return Error::invalid("MapResponse: malformed JSON");
  return out;
}

}  // namespace tnet::controld
