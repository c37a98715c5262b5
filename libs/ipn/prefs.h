// Go's ipn.Prefs with its exact JSON: field names, declaration order, omitempty rules and zero
// values (Go source: ipn/prefs.go). Private keys never live here: in tailnetd the node key stays
// in wgd, so the "Config" (Go's Persist) object always shows zeroed private keys, as Go's
// LocalAPI does after stripping them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"
#include "libs/ipn/netip.h"
#include "libs/ipn/opt_bool.h"

namespace tnet::ipn {

inline constexpr std::string_view DEFAULT_CONTROL_URL = "https://controlplane.tailscale.com";

// preftype.NetfilterMode
enum NetfilterMode : int { NETFILTER_OFF = 0, NETFILTER_NO_DIVERT = 1, NETFILTER_ON = 2 };
// preftype.ParseNetfilterMode: "on", "nodivert", "off".
Result<int> parseNetfilterMode(std::string_view s);

struct AutoUpdatePrefs {
  bool check = false;
  OptBool apply;
  bool operator==(const AutoUpdatePrefs&) const = default;
};

struct AppConnectorPrefs {
  bool advertise = false;
  bool operator==(const AppConnectorPrefs&) const = default;
};

// drive.Share (lower-case JSON names, all omitempty).
struct DriveShare {
  std::string name;
  std::string path;
  std::string as;            // JSON "who"
  std::string bookmarkData;  // base64 text as Go writes []byte
  bool operator==(const DriveShare&) const = default;
};

// tailcfg.UserProfile
struct UserProfile {
  int64_t id = 0;
  std::string loginName;
  std::string displayName;
  std::string profilePicUrl;                       // omitzero
  std::optional<std::vector<std::string>> groups;  // omitempty
  bool operator==(const UserProfile&) const = default;
  OrderedJson toJson() const;
};

// Go's persist.Persist minus the private keys (always written as zero keys).
struct Persist {
  UserProfile userProfile;
  std::string nodeId;  // tailcfg.StableNodeID
  std::vector<std::string> disallowedTkaStateIds;
  bool operator==(const Persist&) const = default;
};

struct Prefs {
  std::string controlUrl;
  bool routeAll = false;
  std::string exitNodeId;
  std::optional<IpAddr> exitNodeIp;  // "" when unset
  std::string autoExitNode;          // omitempty
  std::string internalExitNodePrior;
  bool exitNodeAllowLanAccess = false;
  bool corpDns = false;
  bool runSsh = false;
  bool runWebClient = false;
  bool wantRunning = false;
  bool loggedOut = false;
  bool shieldsUp = false;
  std::optional<std::vector<std::string>> advertiseTags;  // nullopt = Go nil = JSON null
  std::string hostname;
  bool notepadUrls = false;
  bool forceDaemon = false;  // omitempty
  bool egg = false;          // omitempty
  std::optional<std::vector<IpPrefix>> advertiseRoutes;
  std::optional<std::vector<std::string>> advertiseServices;
  OptBool sync;
  bool noSnat = false;
  OptBool noStatefulFiltering;  // omitempty
  int netfilterMode = NETFILTER_OFF;
  std::string operatorUser;  // omitempty
  std::string profileName;   // omitempty
  AutoUpdatePrefs autoUpdate;
  AppConnectorPrefs appConnector;
  bool postureChecking = false;
  std::string netfilterKind;
  bool remoteConfig = false;
  std::optional<std::vector<DriveShare>> driveShares;
  std::optional<uint16_t> relayServerPort;                            // omitempty
  std::optional<std::vector<IpAddrPort>> relayServerStaticEndpoints;  // omitempty
  std::optional<Persist> persist;                                     // JSON "Config"; null when nil

  bool operator==(const Prefs&) const = default;

  // Go's ControlURLOrDefault (without syspolicy).
  std::string controlUrlOrDefault() const;
  // True when AdvertiseRoutes holds both 0.0.0.0/0 and ::/0.
  bool advertisesExitNode() const;
};

// Go's Prefs.Equals: like ==, but Sync and AutoUpdate.Apply compare "" and "unset" as equal
// (a nil opt.Bool marshals as null and decodes back as "unset").
bool prefsEqual(const Prefs& a, const Prefs& b);

// Go's ipn.NewPrefs() on Linux.
Prefs newPrefs();

// Go's JSON for Prefs (MarshalIndent with a tab when `indent`; no trailing newline).
OrderedJson prefsToJson(const Prefs& p);
std::string prefsToString(const Prefs& p, bool indent);

// json.Unmarshal into `into` (fields absent in the JSON keep their values; keys match
// case-insensitively; unknown keys are ignored as Go does). `typeName` names the Go type in
// errors. The input must be an object (or null, a no-op).
Result<void> prefsFromJson(const Json& v, Prefs& into, std::string_view typeName = "Prefs");

// One Prefs field: how it reads from JSON, writes to JSON and copies between Prefs. The
// table is in Go's declaration order; MaskedPrefs uses it to apply only the set fields.
struct PrefsField {
  std::string_view name;
  Result<void> (*parse)(const Json& v, Prefs& p, std::string_view typeName);
  void (*emit)(OrderedJson& out, const Prefs& p);
  void (*copy)(const Prefs& src, Prefs& dst);
};
std::span<const PrefsField> prefsFields();
const PrefsField* findPrefsField(std::string_view jsonKey);  // case-insensitive, exact first

}  // namespace tnet::ipn
