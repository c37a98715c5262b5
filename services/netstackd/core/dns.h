// quad-100's MagicDNS answers (Go's net/dns/resolver for local names): A/AAAA for peers' names,
// both `host.<suffix>.` and the short `host.`, one address per family, TTL 5 s; a known name
// without a record of the asked type is NOERROR with no answers; NS/SOA/AXFR/HINFO for a known
// name is NOTIMP; everything else is NXDOMAIN (no upstream forwarding here). Parses untrusted
// queries (fuzzed).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "services/netstackd/core/packet.h"

namespace tnet::netstack::dns {

inline constexpr uint16_t TYPE_A = 1, TYPE_NS = 2, TYPE_SOA = 6, TYPE_HINFO = 13, TYPE_AAAA = 28,
                          TYPE_AXFR = 252;
inline constexpr uint8_t RCODE_NOERROR = 0, RCODE_FORMERR = 1, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3,
                         RCODE_NOTIMP = 4;
inline constexpr uint32_t TTL = 5;
inline constexpr size_t MAX_RESPONSE = 4095;

struct NameEntry {
  std::vector<Addr> addrs;
};

class NameTable {
 public:
  // `fqdn` with or without the trailing dot; names under `.<suffix>` also answer as the short name.
  void add(std::string_view fqdn, std::vector<Addr> addrs, std::string_view suffix);
  void clear() { names_.clear(); }
  const NameEntry* lookup(std::string_view name) const;  // case-insensitive, trailing dot optional
  size_t size() const { return names_.size(); }
  // Every address of every name (the netmap's nodes, for the proxies' tailnet-or-OS decision).
  std::vector<Addr> allAddrs() const;

 private:
  std::map<std::string, NameEntry> names_;  // lower-case, no trailing dot
};

struct Question {
  std::string name;  // as dotted text, no trailing dot
  uint16_t type = 0, klass = 0;
};

// Parses a query's header and single question; false for anything that is not a well-formed query.
bool parseQuery(std::span<const uint8_t> msg, uint16_t& id, Question& q, size_t& questionEnd);

// The whole response for `msg` (empty when the message is too broken to answer at all, e.g.
// shorter than a header or a response itself).
std::vector<uint8_t> answer(std::span<const uint8_t> msg, const NameTable& table);

// Name → addresses for the proxies (MagicDNS names first); empty when unknown.
std::vector<Addr> resolve(const NameTable& table, std::string_view name);

}  // namespace tnet::netstack::dns
