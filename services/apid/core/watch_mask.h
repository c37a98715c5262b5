// Go's ipn.NotifyWatchOpt as apid needs it for watch-ipn-bus: the bits, parsing `?mask=` with the
// LocalAPI's 400 messages, and which Notify fields a watcher may see.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::apid {

// Bit values exactly as ipn/backend.go; they travel as decimal over the LocalAPI.
inline constexpr uint64_t NOTIFY_WATCH_ENGINE_UPDATES = 1 << 0;
inline constexpr uint64_t NOTIFY_INITIAL_STATE = 1 << 1;
inline constexpr uint64_t NOTIFY_INITIAL_PREFS = 1 << 2;
inline constexpr uint64_t NOTIFY_INITIAL_NETMAP = 1 << 3;
inline constexpr uint64_t NOTIFY_NO_PRIVATE_KEYS = 1 << 4;
inline constexpr uint64_t NOTIFY_INITIAL_DRIVE_SHARES = 1 << 5;
inline constexpr uint64_t NOTIFY_INITIAL_OUTGOING_FILES = 1 << 6;
inline constexpr uint64_t NOTIFY_INITIAL_HEALTH_STATE = 1 << 7;
inline constexpr uint64_t NOTIFY_RATE_LIMIT = 1 << 8;
inline constexpr uint64_t NOTIFY_HEALTH_ACTIONS = 1 << 9;
inline constexpr uint64_t NOTIFY_INITIAL_SUGGESTED_EXIT_NODE = 1 << 10;
inline constexpr uint64_t NOTIFY_INITIAL_CLIENT_VERSION = 1 << 11;
inline constexpr uint64_t NOTIFY_PEER_CHANGES = 1 << 12;
inline constexpr uint64_t NOTIFY_NO_NETMAP = 1 << 13;
inline constexpr uint64_t NOTIFY_INITIAL_STATUS = 1 << 14;
inline constexpr uint64_t NOTIFY_PEER_PATCHES = 1 << 15;
inline constexpr uint64_t NOTIFY_IN_PROCESS_NO_DISCONNECT = 1 << 16;
inline constexpr uint64_t NOTIFY_SYS_POLICY_CHANGES = 1 << 17;
inline constexpr uint64_t NOTIFY_PEER_WIREGUARD_STATE = 1 << 18;

inline constexpr uint64_t NOTIFY_RATE_LIMIT_INCOMPATIBLE_BITS =
    NOTIFY_PEER_CHANGES | NOTIFY_NO_NETMAP | NOTIFY_INITIAL_STATUS | NOTIFY_PEER_PATCHES;

// Go's NotifyWatchOpt.String() ("ipn.NotifyPeerChanges", "(ipn.A | ipn.B)", unknown bits as
// "ipn.NotifyWatchOpt(0x…)"), used in Go's validation message.
std::string notifyWatchOptString(uint64_t mask);

// The `mask` of a watch-ipn-bus query (raw, undecoded), validated as Go's serveWatchIPNBus:
// absent or empty → 0; not a decimal uint64 → "bad mask"; NotifyInProcessNoDisconnect or
// NotifyRateLimit with new-style bits → Go's messages. Errors are INVALID (HTTP 400).
Result<uint64_t> parseWatchMask(std::string_view rawQuery);

}  // namespace tnet::apid
