// The parts of tailcfg.DERPMap the core needs, as plain values. JSON decoding of the netmap's
// DERPMap is the app's job (field names in docs/protocol dataplane §A.7); the core only reads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tnet::magicsock {

struct DerpNode {
  std::string name;
  int regionId = 0;
  std::string hostName;
  std::string ipv4;  // "" (look up HostName), an IPv4 literal, or anything else (e.g. "none"): no v4
  std::string ipv6;
  int stunPort = 0;  // 0: 3478; -1: STUN disabled
  bool stunOnly = false;
  std::string stunTestIp;
};

struct DerpRegion {
  int regionId = 0;
  std::string regionCode;
  bool noMeasureNoHome = false;
  std::vector<DerpNode> nodes;  // priority order
};

struct DerpMap {
  std::map<int, DerpRegion> regions;
  std::map<int, double> regionScore;  // HomeParams.RegionScore; ≤ 0 or absent means 1.0
};

}  // namespace tnet::magicsock
