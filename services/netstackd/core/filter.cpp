#include "services/netstackd/core/filter.h"

#include <algorithm>

#include "libs/ipn/netip.h"

namespace tnet::netstack {

namespace {

Addr fromIpn(const ipn::IpAddr& a) {
  Addr r;
  r.v6 = a.v6;
  r.bytes = a.bytes;
  if (!a.v6) std::fill(r.bytes.begin() + 4, r.bytes.end(), 0);
  return r;
}

AddrRange prefixRange(const Addr& a, int bits) {
  AddrRange r{a, a};
  int len = a.v6 ? 128 : 32;
  for (int i = bits; i < len; ++i) {
    r.lo.bytes[i / 8] &= uint8_t(~(0x80 >> (i % 8)));
    r.hi.bytes[i / 8] |= uint8_t(0x80 >> (i % 8));
  }
  return r;
}

AddrRange allOf(bool v6) {
  Addr zero;
  zero.v6 = v6;
  return prefixRange(zero, 0);
}

bool defaultProto(int p) {
  return p == PROTO_TCP || p == PROTO_UDP || p == PROTO_ICMP4 || p == PROTO_ICMP6;
}

}  // namespace

Result<Addr> parseAddr(std::string_view text) {
  auto a = ipn::parseIpAddr(text);
  if (!a) return a.error();
  if (!a->zone.empty()) return Error::invalid("address with a zone: " + std::string(text));
  return fromIpn(*a);
}

Result<std::vector<AddrRange>> parseAddrSet(std::string_view text, int bits) {
  if (text == "*") return std::vector<AddrRange>{allOf(false), allOf(true)};
  if (text.find('/') != std::string_view::npos) {
    auto p = ipn::parseIpPrefix(text);
    if (!p) return p.error();
    return std::vector<AddrRange>{prefixRange(fromIpn(p->addr), p->bits)};
  }
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    auto lo = parseAddr(text.substr(0, dash));
    auto hi = parseAddr(text.substr(dash + 1));
    if (!lo) return lo.error();
    if (!hi) return hi.error();
    if (lo->v6 != hi->v6) return Error::invalid("range mixes IPv4 and IPv6: " + std::string(text));
    if (*hi < *lo) return Error::invalid("range end before start: " + std::string(text));
    return std::vector<AddrRange>{{*lo, *hi}};
  }
  auto a = parseAddr(text);
  if (!a) return a.error();
  int len = a->v6 ? 128 : 32;
  if (bits >= 0) {
    if (bits > len) return Error::invalid("bits out of range for " + std::string(text));
    return std::vector<AddrRange>{prefixRange(*a, bits)};
  }
  return std::vector<AddrRange>{{*a, *a}};
}

size_t Filter::FlowHash::operator()(const FlowKey& k) const {
  size_t h = k.proto;
  for (auto b : k.src.bytes) h = h * 131 + b;
  for (auto b : k.dst.bytes) h = h * 131 + b;
  return h * 65599 + (size_t(k.srcPort) << 16 | k.dstPort);
}

void Filter::configure(std::vector<Addr> localAddrs, bool filterKnown,
                       const std::vector<FilterRuleSpec>& rules, bool shieldsUp,
                       std::vector<std::string>* errors) {
  local_ = std::move(localAddrs);
  matches_.clear();
  allowNew_ = filterKnown && !shieldsUp;
  if (!allowNew_) return;
  for (const auto& rule : rules) {
    Match m;
    m.protos = rule.ipProto;
    bool bad = false;
    for (const auto& s : rule.srcIps) {
      if (s.starts_with("cap:")) continue;  // capability sources are not IP sets
      auto set = parseAddrSet(s);
      if (!set) {
        if (errors) errors->push_back(set.error().message);
        bad = true;
        break;
      }
      m.srcs.insert(m.srcs.end(), set->begin(), set->end());
    }
    for (const auto& d : rule.dstPorts) {
      auto set = parseAddrSet(d.ip, d.bits);
      if (!set) {
        if (errors) errors->push_back(set.error().message);
        bad = true;
        break;
      }
      for (const auto& r : *set) m.dsts.push_back({r, d.first, d.last});
    }
    if (!bad) matches_.push_back(std::move(m));
  }
}

bool Filter::isLocal(const Addr& a) const {
  return std::find(local_.begin(), local_.end(), a) != local_.end();
}

bool Filter::match(const PacketInfo& p, bool portsToo, bool protoOnly) const {
  for (const auto& m : matches_) {
    bool protoOk = m.protos.empty() ? defaultProto(p.proto)
                                    : std::find(m.protos.begin(), m.protos.end(), p.proto) != m.protos.end();
    if (!protoOk) continue;
    bool srcOk =
        std::any_of(m.srcs.begin(), m.srcs.end(), [&](const AddrRange& r) { return r.contains(p.src); });
    if (!srcOk) continue;
    for (const auto& d : m.dsts) {
      if (!d.range.contains(p.dst)) continue;
      if (protoOnly || !portsToo) return true;
      if (p.dstPort >= d.first && p.dstPort <= d.last) return true;
    }
  }
  return false;
}

FilterResult Filter::runIn(const PacketInfo& p) {
  if (!isLocal(p.dst)) return {Verdict::DROP, "destination not allowed"};
  if (p.fragment) return {Verdict::ACCEPT, "fragment"};
  switch (p.proto) {
    case PROTO_ICMP4:
    case PROTO_ICMP6:
      if (p.isEchoReply() || p.isIcmpError()) return {Verdict::ACCEPT, "icmp response ok"};
      if (p.proto == PROTO_ICMP6 && p.icmpType >= 133 && p.icmpType <= 137)
        return {Verdict::DROP, "neighbor discovery"};
      if (allowNew_ && match(p, false, false)) return {Verdict::ACCEPT, "icmp ok"};
      break;
    case PROTO_TCP:
      if (!p.isTcpSyn()) return {Verdict::ACCEPT, "tcp non-syn"};
      if (allowNew_ && match(p, true, false)) return {Verdict::ACCEPT, "tcp ok"};
      break;
    case PROTO_UDP:
    case PROTO_SCTP: {
      FlowKey k{p.proto, p.src, p.dst, p.srcPort, p.dstPort};
      if (auto it = flows_.find(k); it != flows_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return {Verdict::ACCEPT, "cached"};
      }
      if (allowNew_ && match(p, true, false)) return {Verdict::ACCEPT, "ok"};
      break;
    }
    case PROTO_TSMP:
      return {Verdict::ACCEPT, "tsmp ok"};
    default:
      if (allowNew_ && match(p, false, true)) return {Verdict::ACCEPT, "other-portless ok"};
      return {Verdict::DROP, "unknown proto"};
  }
  if (!allowNew_) return {Verdict::DROP, "shields up or no filter"};
  return {Verdict::DROP, "no rules matched"};
}

void Filter::runOut(const PacketInfo& p) {
  if (p.proto != PROTO_UDP && p.proto != PROTO_SCTP) return;
  // Stored as the reply's tuple, so runIn looks it up directly.
  FlowKey k{p.proto, p.dst, p.src, p.dstPort, p.srcPort};
  if (auto it = flows_.find(k); it != flows_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(k);
  flows_[k] = lru_.begin();
  if (lru_.size() > CONNTRACK_MAX) {
    flows_.erase(lru_.back());
    lru_.pop_back();
  }
}

}  // namespace tnet::netstack
