// The network map and Go's delta rules (control/controlclient/map.go, for the capver we claim):
// MapSession folds each decoded MapResponse into the current NetworkMap and bumps its
// generation when anything changed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"
#include "services/controld/core/map_types.h"

namespace tnet::controld {

struct NetworkMap {
  uint64_t generation = 0;  // 1 for the first complete map, +1 per change
  Node self;
  std::vector<Node> peers;  // sorted by ID, IDs unique
  DerpMap derpMap;          // regions always set once a DERPMap arrived
  std::optional<DnsConfig> dns;
  // The named filter chunks and their concatenation in sorted-name order (Go's rule).
  std::map<std::string, std::vector<FilterRule>> filterChunks;
  std::vector<FilterRule> packetFilter;
  bool packetFilterKnown = false;  // false until control sent PacketFilter(s)
  std::map<int64_t, UserProfile> userProfiles;
  std::string domain;
  std::optional<bool> collectServices;
  std::vector<std::string> health;
  std::optional<int64_t> controlTime;

  const Node* findPeer(NodeId id) const;
};

// What one response asks of the caller beyond the netmap.
struct ApplyOutcome {
  bool keepAliveOnly = false;
  bool changed = false;                  // the netmap's generation moved
  std::optional<PingRequest> ping;       // a new PingRequest (same URL as the last one is dropped)
  std::string popBrowserUrl;             // a new URL to show
};

class MapSession {
 public:
  // `nowUnix` stamps PeerSeenChange{id:true}. The first non-keep-alive response must carry the
  // self Node (Go: "initial MapResponse lacked node"). An invalid response leaves the map as it was.
  Result<ApplyOutcome> apply(MapResponse resp, int64_t nowUnix);

  // nullptr until the first complete map.
  const NetworkMap* netmap() const { return have_ ? &nm_ : nullptr; }
  const std::string& sessionHandle() const { return sessionHandle_; }
  int64_t lastSeq() const { return seq_; }

 private:
  NetworkMap nm_;
  bool have_ = false;
  std::string sessionHandle_;
  int64_t seq_ = 0;
  std::string lastPingUrl_;
  std::string lastPopUrl_;
};

}  // namespace tnet::controld
