#include "services/wgd/core/allowed_ips.h"

#include "libs/ipn/netip.h"

namespace tnet::wg {

// Text forms are Go's netip (libs/ipn), as Tailscale's netmap carries them.
Result<IpPrefix> IpPrefix::parse(std::string_view text) {
  ipn::IpPrefix parsed;
  if (text.find('/') != std::string_view::npos) {
    auto p = ipn::parseIpPrefix(text);
    if (!p) return Unexpected(p.error());
    parsed = *p;
  } else {
    auto a = ipn::parseIpAddr(text);
    if (!a) return Unexpected(a.error());
    if (!a->zone.empty()) return Error::invalid("an allowed IP has no zone: " + std::string(text));
    parsed.addr = *a;
    parsed.bits = a->bitLen();
  }
  parsed = parsed.masked();
  IpPrefix out;
  out.isV6 = parsed.addr.v6;
  out.bits = uint8_t(parsed.bits);
  out.addr = parsed.addr.bytes;
  return out;
}

std::string IpPrefix::toString() const {
  ipn::IpPrefix p;
  p.addr.v6 = isV6;
  p.addr.bytes = addr;
  p.bits = bits;
  return p.toString();
}

AllowedIps::Key AllowedIps::maskedKey(const uint8_t* addr, bool v6, unsigned bits) {
  Key k;
  if (v6) {
    k.hi = getU64BE(addr);
    k.lo = getU64BE(addr + 8);
    if (bits == 0) {
      k.hi = k.lo = 0;
    } else if (bits <= 64) {
      k.hi &= bits == 64 ? ~uint64_t(0) : ~(~uint64_t(0) >> bits);
      k.lo = 0;
    } else if (bits < 128) {
      k.lo &= ~(~uint64_t(0) >> (bits - 64));
    }
  } else {
    uint64_t v = getU32BE(addr);
    k.lo = bits == 0 ? 0 : (v & (~uint64_t(0) << (32 - bits)) & 0xffffffffULL);
  }
  return k;
}

void AllowedIps::insert(const IpPrefix& prefix, PeerId peer) {
  Family& f = family(prefix.isV6);
  if (f.byLength.empty()) f.byLength.resize(prefix.isV6 ? 129 : 33);
  f.byLength[prefix.bits][maskedKey(prefix.addr.data(), prefix.isV6, prefix.bits)] = peer;
  f.present.set(prefix.bits);
}

void AllowedIps::removePeer(PeerId peer) {
  for (Family* f : {&v4_, &v6_}) {
    for (size_t len = 0; len < f->byLength.size(); ++len) {
      auto& m = f->byLength[len];
      for (auto it = m.begin(); it != m.end();) it = it->second == peer ? m.erase(it) : std::next(it);
      if (m.empty()) f->present.reset(len);
    }
  }
}

std::optional<PeerId> AllowedIps::lookup(ByteSpan addr) const {
  if (addr.size() != 4 && addr.size() != 16) return std::nullopt;
  const bool v6 = addr.size() == 16;
  const Family& f = family(v6);
  if (f.byLength.empty()) return std::nullopt;
  for (int len = v6 ? 128 : 32; len >= 0; --len) {
    if (!f.present.test(size_t(len))) continue;
    const auto& m = f.byLength[size_t(len)];
    if (auto it = m.find(maskedKey(addr.data(), v6, unsigned(len))); it != m.end()) return it->second;
  }
  return std::nullopt;
}

std::vector<IpPrefix> AllowedIps::prefixesOf(PeerId peer) const {
  std::vector<IpPrefix> out;
  for (bool v6 : {false, true}) {
    const Family& f = family(v6);
    for (size_t len = 0; len < f.byLength.size(); ++len) {
      for (const auto& [key, owner] : f.byLength[len]) {
        if (owner != peer) continue;
        IpPrefix p;
        p.isV6 = v6;
        p.bits = uint8_t(len);
        if (v6) {
          putU64BE(p.addr.data(), key.hi);
          putU64BE(p.addr.data() + 8, key.lo);
        } else {
          putU32BE(p.addr.data(), uint32_t(key.lo));
        }
        out.push_back(p);
      }
    }
  }
  return out;
}

size_t AllowedIps::size() const {
  size_t n = 0;
  for (const Family* f : {&v4_, &v6_}) {
    for (const auto& m : f->byLength) n += m.size();
  }
  return n;
}

}  // namespace tnet::wg
