// The two requests controld POSTs over Noise/h2: /machine/register and /machine/map, as the
// exact JSON Go's tailcfg produces (field order, omitempty/omitzero, zero keys as text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "libs/crypto/secret.h"
#include "libs/ipn/netip.h"
#include "libs/wire/keys.h"
#include "services/controld/core/hostinfo.h"

namespace tnet::controld {

struct RegisterRequest {
  key::NodePublic nodeKey;
  key::NodePublic oldNodeKey;              // zero unless rotating
  std::optional<std::string> authKey;      // Auth{AuthKey}; a secret: the JSON is never logged
  std::optional<int64_t> expiry;           // nullopt = Go's zero time; logout = 123
  std::string followup;                    // the previous AuthURL
  Hostinfo hostinfo;
  bool ephemeral = false;
  std::string tailnet;
};

// The body carries the auth key: it is a SecretString so it is wiped and never formatted.
crypto::SecretString registerRequestJson(const RegisterRequest& req);

// Go's tailcfg.EndpointType values.
enum class EndpointType : int { UNKNOWN = 0, LOCAL = 1, STUN = 2, PORTMAP = 3, STUN4LOCALPORT = 4, EXPLICITCONF = 5 };

struct MapRequest {
  bool compressZstd = false;
  bool keepAlive = true;
  key::NodePublic nodeKey;
  key::DiscoPublic discoKey;
  bool stream = false;
  Hostinfo hostinfo;
  std::vector<ipn::IpAddrPort> endpoints;
  std::vector<EndpointType> endpointTypes;  // parallel to endpoints
  bool omitPeers = false;
  std::vector<std::string> debugFlags;
};

// Streaming poll (Stream, KeepAlive, optional zstd) and lite update (OmitPeers, no Stream), the
// two shapes Go's direct.go sends.
MapRequest streamingMapRequest(MapRequest base, bool zstd);
MapRequest liteMapRequest(MapRequest base);
std::string mapRequestJson(const MapRequest& req);

}  // namespace tnet::controld
