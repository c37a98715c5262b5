// Cryptokey routing (whitepaper §2): each peer owns a set of IP prefixes. Outbound, the longest
// prefix matching the destination chooses the peer; inbound, the longest prefix matching the inner
// source must belong to the peer the packet came from. IPv4 and IPv6 are separate tables.
//
// One hash table per prefix length, probed from the longest length present downwards: lookups cost
// at most one probe per distinct length in use (a handful in a tailnet: /32, /128, a few routes).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::wg {

using PeerId = uint32_t;

struct IpPrefix {
  std::array<uint8_t, 16> addr{};  // IPv4 uses the first 4 bytes; bits past `bits` are zero
  uint8_t bits = 0;
  bool isV6 = false;

  // "10.0.0.0/8", "fd7a:115c:a1e0::1/128"; a bare address means a full-length prefix. Host bits
  // are cleared (as wireguard-go masks what `wg set allowed-ips` gives it).
  static Result<IpPrefix> parse(std::string_view text);
  std::string toString() const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

class AllowedIps {
 public:
  // Adds or re-assigns `prefix` to `peer` (a prefix belongs to one peer at a time).
  void insert(const IpPrefix& prefix, PeerId peer);
  void removePeer(PeerId peer);
  // `addr` is 4 or 16 bytes; nullopt when no prefix matches (or the size is neither).
  std::optional<PeerId> lookup(ByteSpan addr) const;
  std::vector<IpPrefix> prefixesOf(PeerId peer) const;
  size_t size() const;

 private:
  struct Key {
    uint64_t hi = 0, lo = 0;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.hi * 0x9e3779b97f4a7c15ULL ^ k.lo);
    }
  };
  struct Family {
    std::vector<std::unordered_map<Key, PeerId, KeyHash>> byLength;  // index = prefix length
    std::bitset<129> present;
  };
  static Key maskedKey(const uint8_t* addr, bool v6, unsigned bits);
  Family& family(bool v6) { return v6 ? v6_ : v4_; }
  const Family& family(bool v6) const { return v6 ? v6_ : v4_; }

  Family v4_, v6_;
};

}  // namespace tnet::wg
