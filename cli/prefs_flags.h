// Turns `tnet up` / `tnet set` flags into Go's ipn.Prefs, ipn.MaskedPrefs and ipn.Options JSON
// (exact Go field names), and the "up checker" that refuses to silently revert settings.
// Pure functions over JSON values: the commands fetch status/prefs and send the results.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::cli {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// The preference flags `up` and `set` share. A field is set iff the flag was given.
struct PrefFlags {
  std::optional<std::string> loginServer;      // --login-server → ControlURL
  std::optional<bool> acceptRoutes;            // --accept-routes → RouteAll
  std::optional<bool> acceptDns;               // --accept-dns → CorpDNS
  std::optional<bool> shieldsUp;               // --shields-up → ShieldsUp
  std::optional<std::string> advertiseRoutes;  // --advertise-routes → AdvertiseRoutes
  std::optional<bool> advertiseExitNode;       // --advertise-exit-node → AdvertiseRoutes
  std::optional<std::string> exitNode;         // --exit-node → ExitNodeIP, ExitNodeID
  std::optional<bool> exitNodeAllowLanAccess;  // --exit-node-allow-lan-access
  std::optional<std::string> hostname;         // --hostname → Hostname
  std::optional<std::string> operatorUser;     // --operator → OperatorUser

  // Flag names given, in Go's spelling, in a fixed order.
  std::vector<std::string> givenFlagNames() const;
  bool empty() const { return givenFlagNames().empty(); }
};

// Go's ipn.NewPrefs() on Linux, in Go's field order (so the JSON reads like Go's).
OrderedJson defaultPrefs();

// The full Prefs `tnet up` starts with (Go's prefsFromUpArgs): defaults, then the flags, with
// WantRunning=true. Settings tnet has no flag for keep their current values unless `reset`.
// Without --login-server the saved ControlURL is kept (empty means the daemon's own choice:
// TS_CONTROL_URL or Tailscale's server), so tnet never points a node somewhere by default.
Result<OrderedJson> prefsFromUpFlags(const PrefFlags& flags, const Json& status, const Json& curPrefs,
                                     bool reset, const std::string& currentUser);

// `tnet set`: a MaskedPrefs holding only the given flags' fields and their …Set markers.
Result<OrderedJson> maskedPrefsFromSetFlags(const PrefFlags& flags, const Json& status, const Json& curPrefs);

// Applies a MaskedPrefs to a Prefs (Go's Prefs.ApplyEdits), for the check-prefs call.
Json applyMaskedPrefs(const Json& curPrefs, const OrderedJson& masked);

// `tnet down`: {"WantRunning":false,"WantRunningSet":true}.
OrderedJson downMaskedPrefs();

// `tnet up` while Running with no re-auth: edit prefs in place (Go's justEditMP): the new Prefs
// plus WantRunningSet and the …Set marker of every given flag (every flag with --reset).
OrderedJson justEditMaskedPrefs(const OrderedJson& newPrefs, const PrefFlags& flags, bool reset);

// ipn.Options for POST start.
OrderedJson startOptions(const OrderedJson& prefs, const std::string& authKey);

// Go's checkForAccidentalSettingReverts: an error naming the full `tnet up …` command when a
// flag left out would change a non-default setting. `simpleUp` is set for a bare `tnet up`
// after a login (just bring the network up). explicitFlags are the flags as typed, for the
// suggested command.
struct UpCheck {
  bool simpleUp = false;
};
Result<UpCheck> checkForAccidentalSettingReverts(const OrderedJson& newPrefs, const Json& curPrefs,
                                                 const PrefFlags& flags, bool anyFlagGiven,
                                                 const std::vector<std::string>& explicitFlags,
                                                 const std::string& backendState, const Json& status);

// A flag as Go's up checker writes it in its suggested command: "--name" for true,
// "--name=false", "--name=" for an empty string, else "--name=<shell-quoted value>".
std::string formatFlagArg(const std::string& name, bool value);
std::string formatFlagArg(const std::string& name, const std::string& value);

// Reads --auth-key: "file:<path>" means the trimmed contents of that file (Go's resolveValue).
Result<std::string> resolveAuthKey(const std::string& authKeyOrFile);

// The exit node IP for --exit-node (an IP or a peer's name), checked against the status as
// Go's Prefs.SetExitNodeIP does.
Result<std::string> exitNodeIpOfArg(const std::string& arg, const Json& status);

}  // namespace tnet::cli
