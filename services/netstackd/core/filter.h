// The inbound packet filter in front of lwIP, with Go's wgengine/filter semantics:
// - packets to addresses that are not ours are dropped;
// - TCP: a SYN (without ACK) needs a matching rule; every other TCP packet passes (replies and
//   established flows; a new connection cannot start without a SYN);
// - UDP/SCTP: a reply to a flow we sent (conntrack, 512 recent flows) passes, else a rule must match;
// - ICMP: echo replies and errors pass; anything else passes when a rule allows the source to reach
//   the destination IP on any port;
// - non-first fragments pass (their first fragment was checked); TSMP passes;
// - other protocols need a rule naming the protocol (ports ignored);
// - shields-up, or no filter from control yet, allows no new inbound flow at all.
// Rule sources/destinations: "*", an IP, a CIDR, an inclusive range "a-b"; the deprecated Bits
// applies to a plain IP. "cap:" sources (peer capabilities) never match here.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libs/base/result.h"
#include "services/netstackd/core/packet.h"

namespace tnet::netstack {

struct FilterDstSpec {
  std::string ip;  // "*", IP, CIDR or range
  int bits = -1;   // deprecated Bits; -1 = absent
  uint16_t first = 0, last = 0;
};

struct FilterRuleSpec {
  std::vector<std::string> srcIps;
  std::vector<FilterDstSpec> dstPorts;
  std::vector<int> ipProto;  // empty = TCP, UDP, ICMPv4, ICMPv6
};

// An inclusive address range within one family.
struct AddrRange {
  Addr lo, hi;
  bool contains(const Addr& a) const { return a.v6 == lo.v6 && !(a < lo) && !(hi < a); }
};

// Go's parseIPSet: "*" is every IPv4 and IPv6 address.
Result<std::vector<AddrRange>> parseAddrSet(std::string_view text, int bits = -1);
Result<Addr> parseAddr(std::string_view text);

enum class Verdict { ACCEPT, DROP };

struct FilterResult {
  Verdict verdict;
  const char* reason;  // static text, for logs and tests
};

class Filter {
 public:
  static constexpr size_t CONNTRACK_MAX = 512;  // Go's lruMax

  // `localAddrs`: this node's addresses (packets to others are dropped).
  // Rules that fail to parse are skipped and listed in `errors`.
  void configure(std::vector<Addr> localAddrs, bool filterKnown, const std::vector<FilterRuleSpec>& rules,
                 bool shieldsUp, std::vector<std::string>* errors = nullptr);

  // A packet from the tunnel, before lwIP.
  FilterResult runIn(const PacketInfo& packet);
  // A packet we send into the tunnel: records UDP flows so their replies pass.
  void runOut(const PacketInfo& packet);

  bool isLocal(const Addr& a) const;
  size_t conntrackSize() const { return lru_.size(); }

 private:
  struct Match {
    std::vector<int> protos;
    std::vector<AddrRange> srcs;
    struct Dst {
      AddrRange range;
      uint16_t first, last;
    };
    std::vector<Dst> dsts;
  };
  struct FlowKey {
    uint8_t proto;
    Addr src, dst;
    uint16_t srcPort, dstPort;
    bool operator==(const FlowKey&) const = default;
  };
  struct FlowHash {
    size_t operator()(const FlowKey& k) const;
  };

  bool match(const PacketInfo& p, bool portsToo, bool protoOnly) const;

  std::vector<Addr> local_;
  std::vector<Match> matches_;
  bool allowNew_ = false;
  std::list<FlowKey> lru_;  // most recent first
  std::unordered_map<FlowKey, std::list<FlowKey>::iterator, FlowHash> flows_;
};

}  // namespace tnet::netstack
