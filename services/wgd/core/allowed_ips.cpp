#include "services/wgd/core/allowed_ips.h"

#include <arpa/inet.h>

#include <cstring>

namespace tnet::wg {

Result<IpPrefix> IpPrefix::parse(std::string_view text) {
  std::string addrText(text);
  int bits = -1;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    addrText = std::string(text.substr(0, slash));
    const std::string_view b = text.substr(slash + 1);
    if (b.empty() || b.size() > 3) return Error::invalid("bad prefix length in " + std::string(text));
    bits = 0;
    for (char c : b) {
      if (c < '0' || c > '9') return Error::invalid("bad prefix length in " + std::string(text));
      bits = bits * 10 + (c - '0');
    }
  }
  IpPrefix p;
  if (inet_pton(AF_INET, addrText.c_str(), p.addr.data()) == 1) {
    p.isV6 = false;
    if (bits < 0) bits = 32;
    if (bits > 32) return Error::invalid("IPv4 prefix longer than 32 bits: " + std::string(text));
  } else if (inet_pton(AF_INET6, addrText.c_str(), p.addr.data()) == 1) {
    p.isV6 = true;
    if (bits < 0) bits = 128;
    if (bits > 128) return Error::invalid("IPv6 prefix longer than 128 bits: " + std::string(text));
  } else {
    return Error::invalid("not an IP address: " + std::string(text));
  }
  p.bits = static_cast<uint8_t>(bits);
  const unsigned total = p.isV6 ? 16 : 4;
  for (unsigned i = 0; i < total; ++i) {
    const int keep = bits - int(i) * 8;
    if (keep >= 8) continue;
    p.addr[i] &= keep <= 0 ? 0 : uint8_t(0xff << (8 - keep));
  }
  return p;
}

std::string IpPrefix::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(isV6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(bits);
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
