// Go's ipn.Notify (ipn/backend.go) and the watch-ipn-bus mask bits. Fields Go declares without
// an omit tag are always present (null when unset); the omitzero ones appear only when set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"
#include "libs/ipn/prefs.h"
#include "libs/ipn/state.h"

namespace tnet::ipn {

// NotifyWatchOpt bits.
enum NotifyWatchOpt : uint64_t {
  NOTIFY_WATCH_ENGINE_UPDATES = 1u << 0,
  NOTIFY_INITIAL_STATE = 1u << 1,
  NOTIFY_INITIAL_PREFS = 1u << 2,
  NOTIFY_INITIAL_NET_MAP = 1u << 3,
  NOTIFY_NO_PRIVATE_KEYS = 1u << 4,
  NOTIFY_INITIAL_DRIVE_SHARES = 1u << 5,
  NOTIFY_INITIAL_OUTGOING_FILES = 1u << 6,
  NOTIFY_INITIAL_HEALTH_STATE = 1u << 7,
  NOTIFY_RATE_LIMIT = 1u << 8,
  NOTIFY_HEALTH_ACTIONS = 1u << 9,
  NOTIFY_INITIAL_SUGGESTED_EXIT_NODE = 1u << 10,
  NOTIFY_INITIAL_CLIENT_VERSION = 1u << 11,
  NOTIFY_PEER_CHANGES = 1u << 12,
  NOTIFY_NO_NET_MAP = 1u << 13,
  NOTIFY_INITIAL_STATUS = 1u << 14,
  NOTIFY_PEER_PATCHES = 1u << 15,
  NOTIFY_IN_PROCESS_NO_DISCONNECT = 1u << 16,
  NOTIFY_SYS_POLICY_CHANGES = 1u << 17,
  NOTIFY_PEER_WIREGUARD_STATE = 1u << 18,
};

// Parses ?mask= (decimal uint64, Go's strconv.ParseUint) and applies Go's LocalAPI checks.
// The error message is the body Go answers with 400.
Result<uint64_t> parseWatchMask(std::string_view text);

// Go's ipn.EngineStatus.
struct EngineStatus {
  int64_t rBytes = 0;
  int64_t wBytes = 0;
  int numLive = 0;
  int liveDerps = 0;
};

// One health.UnhealthyState (Severity "high" | "medium" | "low").
struct HealthWarning {
  std::string code;
  std::string severity = "medium";
  std::string title;
  std::string text;
  bool impactsConnectivity = false;
};

struct Notify {
  std::string version;
  std::string sessionId;  // omitzero
  std::optional<std::string> errMessage;
  bool loginFinished = false;  // {} when true, null otherwise
  std::optional<State> state;
  std::optional<Prefs> prefs;
  std::optional<OrderedJson> initialStatus;  // an ipnstate.Status object; omitzero
  std::optional<EngineStatus> engine;
  std::optional<std::string> browseToUrl;
  std::optional<std::vector<HealthWarning>> health;  // health.State; omitzero
};

OrderedJson notifyToJson(const Notify& n);
std::string notifyToString(const Notify& n);  // compact, no trailing newline

// Which messages a watcher with `mask` receives: Go filters Engine updates unless
// NotifyWatchEngineUpdates, and netmap deltas by the peer bits. ipnd emits no netmaps yet, so
// only the Engine rule applies.
bool notifyWantedBy(const Notify& n, uint64_t mask);

}  // namespace tnet::ipn
