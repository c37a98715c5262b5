// RegisterRequest and MapRequest as the control server reads them: Go's encoding/json rules
// (unknown fields ignored, case-insensitive keys, wrong kinds are errors with Go's wording).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"
#include "libs/ipn/netip.h"
#include "libs/wire/keys.h"
#include "tests/integration/testcontrol/hostinfo_norm.h"

namespace tnet::testcontrol {

// Go's testcontrol reads at most this much of a request body (msgLimit) and rejects a body
// that fills it.
inline constexpr size_t MAX_REQUEST_BODY = 1u << 20;

struct ServerRegisterRequest {
  int64_t version = 0;
  key::NodePublic nodeKey;
  key::NodePublic oldNodeKey;
  std::optional<std::string> authKey;  // secret: never logged
  std::optional<int64_t> expiry;       // nullopt = Go's zero time
  std::string followup;
  std::optional<StoredHostinfo> hostinfo;
  bool ephemeral = false;
};

struct ServerMapRequest {
  int64_t version = 0;
  std::string compress;
  bool keepAlive = false;
  key::NodePublic nodeKey;
  key::DiscoPublic discoKey;
  bool stream = false;
  std::optional<StoredHostinfo> hostinfo;
  std::vector<ipn::IpAddrPort> endpoints;
  bool omitPeers = false;
  bool readOnly = false;
};

Result<ServerRegisterRequest> parseRegisterRequest(std::string_view body);
Result<ServerMapRequest> parseMapRequest(std::string_view body);

}  // namespace tnet::testcontrol
