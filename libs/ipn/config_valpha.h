// Go's ipn.ConfigVAlpha (ipn/conf.go), the `tailnetd --config` file, validated completely the
// way Go's conffile.Load does (version "alpha0", unknown fields rejected, keys matched
// case-insensitively, // and /* */ comments allowed as in HuJSON) plus tailnetd's own checks,
// and converted to MaskedPrefs exactly as Go's ToPrefs does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"
#include "libs/ipn/masked_prefs.h"

namespace tnet::ipn {

struct ConfigVAlpha {
  std::string version;  // "alpha0"
  OptBool locked;       // default true
  std::optional<std::string> serverUrl;
  std::optional<std::string> authKey;  // secret: literal key or "file:<path>"
  OptBool enabled;                     // WantRunning; default true
  std::optional<std::string> operatorUser;
  std::optional<std::string> hostname;
  OptBool acceptDns;
  OptBool acceptRoutes;
  std::optional<std::string> exitNode;
  OptBool allowLanWhileUsingExitNode;
  std::optional<std::vector<IpPrefix>> advertiseRoutes;
  OptBool advertiseExitNode;
  OptBool disableSnat;
  std::optional<std::vector<std::string>> advertiseServices;
  std::optional<AppConnectorPrefs> appConnector;
  std::optional<std::string> netfilterMode;
  OptBool noStatefulFiltering;
  OptBool postureChecking;
  OptBool runSshServer;
  OptBool runWebClient;
  OptBool shieldsUp;
  OptBool remoteConfig;
  std::optional<AutoUpdatePrefs> autoUpdate;
  std::optional<std::vector<IpAddrPort>> staticEndpoints;
  std::optional<uint16_t> relayServerPort;
  std::optional<std::vector<IpAddrPort>> relayServerStaticEndpoints;

  // Go's isConfigLocked: a config file locks prefs unless "Locked": false.
  bool isLocked() const { return !locked.equalBool(false); }
  // The auth key names a file ("file:<path>") still to be read.
  bool authKeyIsFile() const { return authKey && authKey->rfind("file:", 0) == 0; }
};

// Parses and validates one config document. Errors read like Go's ("error parsing config file:
// …") without a path; the caller adds it.
Result<ConfigVAlpha> parseConfigVAlpha(std::string_view bytes);

// The canonical JSON for the config (Go's field names and omit rules). Contains the auth key:
// only for the supervisor → ipnd pipe, never for logs.
std::string configVAlphaToString(const ConfigVAlpha& c);

// Go's ConfigVAlpha.ToPrefs.
Result<MaskedPrefs> configToMaskedPrefs(const ConfigVAlpha& c);

}  // namespace tnet::ipn
