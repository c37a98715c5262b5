// apid's resource limits, in one place so docs/localapi.md and the code agree. Go's net/http
// server allows 1 MiB of headers and unbounded bodies; the LocalAPI's real requests are a few KiB,
// so tighter bounds cost nothing and cap what one local client can make apid hold.
#pragma once

#include <cstddef>
#include <cstdint>

#include "libs/ipn/capver.h"

namespace tnet::apid {

inline constexpr size_t MAX_HEADER_BYTES = 64 * 1024;       // request line + headers → 431
inline constexpr size_t MAX_BODY_BYTES = 1024 * 1024;       // request body → 413
inline constexpr uint32_t HEADER_READ_TIMEOUT_MS = 10'000;  // from first byte (or idle end) to end of headers
inline constexpr uint32_t BODY_READ_TIMEOUT_MS = 30'000;
inline constexpr uint32_t IDLE_TIMEOUT_MS = 120'000;   // keep-alive wait for the next request
inline constexpr uint32_t WRITE_TIMEOUT_MS = 30'000;   // one response (or one stream chunk)
inline constexpr uint32_t IPND_DEADLINE_MS = 10'000;   // ipnd.localapi; past it → 503
inline constexpr size_t MAX_CONNECTIONS = 512;         // beyond: accepted and closed at once
inline constexpr size_t WATCHER_QUEUE_MESSAGES = 128;  // Go's per-watcher channel size
inline constexpr size_t MAX_JSON_DEPTH = 10'000;       // Go encoding/json maxNestingDepth

// Go's tailcfg.CurrentCapabilityVersion at the source we follow; sent as `Tailscale-Cap`.
inline constexpr int TAILSCALE_CAP = ipn::CAPABILITY_VERSION;

}  // namespace tnet::apid
