// Bus messages (schemas/controld, netmap, wgd, magicsockd) → the core's plain facts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "schemas/controld.capnp.h"
#include "schemas/magicsockd.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/wgd.capnp.h"
#include "services/ipnd/core/backend.h"
#include "services/ipnd/core/peer_query.h"

namespace tnet::ipnd {

// Self key expiry is judged against `nowUnix` (Go: KeyExpiry before now, non-zero).
NetmapFacts netmapFacts(schema::Netmap::Reader nm, int64_t nowUnix);
ControlStatusFacts controlStatusFacts(schema::ControlStatus::Reader st, uint64_t epoch);
DerpFacts derpFacts(schema::DerpState::Reader d);
NetcheckFacts netcheckFacts(schema::NetcheckReport::Reader r);
std::map<std::string, PathFacts> pathFacts(schema::Paths::Reader p);
struct WgPeersUpdate {
  bool full = false;
  std::map<std::string, WgPeerFacts> changed;
  std::vector<std::string> removed;
};
WgPeersUpdate wgPeersUpdate(schema::WgPeers::Reader p);

// Go's NetworkMap.MagicDNSSuffix: the self name without its first label and the final dot.
std::string magicDnsSuffixOf(std::string name);

}  // namespace tnet::ipnd
