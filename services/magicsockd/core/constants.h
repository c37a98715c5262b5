// Every timer and limit of the magicsock core, named after its Go counterpart. Sources are
// Tailscale's Go tree; docs/magicsock.md has the table with file references.
#pragma once

#include <chrono>
#include <cstddef>

#include "services/magicsockd/core/mono_time.h"

namespace tnet::magicsock {

using namespace std::chrono_literals;

// wgengine/magicsock/magicsock.go, endpoint.go
constexpr Duration HEARTBEAT_INTERVAL = 3s;             // heartbeatInterval
constexpr Duration TRUST_UDP_ADDR_DURATION = 6500ms;    // trustUDPAddrDuration
constexpr Duration SESSION_ACTIVE_TIMEOUT = 45s;        // sessionActiveTimeout
constexpr Duration DISCO_PING_INTERVAL = 5s;            // discoPingInterval
constexpr Duration PING_TIMEOUT_DURATION = 5s;          // pingTimeoutDuration
constexpr Duration UPGRADE_UDP_DIRECT_INTERVAL = 1min;  // upgradeUDPDirectInterval
constexpr Duration GOOD_ENOUGH_LATENCY = 5ms;           // goodEnoughLatency
constexpr size_t PONG_HISTORY_COUNT = 64;               // pongHistoryCount
// Go bounds outstanding pings only by the 5 s interval per endpoint; we also cap the table so
// a peer with hundreds of advertised endpoints cannot grow it without bound (our choice).
constexpr size_t MAX_OUTSTANDING_PINGS = 64;
// Go prunes candidates above 100 (endpoint.go "too many endpoints"); we refuse beyond it.
constexpr size_t MAX_CANDIDATE_ENDPOINTS = 100;
// Received-ping TxIDs remembered per peer to ignore duplicates.
constexpr size_t RECENT_RX_TXIDS = 16;

// net/netcheck/netcheck.go
constexpr Duration NETCHECK_OVERALL_TIMEOUT = 5s;         // overallProbeTimeout
constexpr Duration NETCHECK_STUN_PROBE_TIMEOUT = 3s;      // stunProbeTimeout
constexpr Duration NETCHECK_FULL_REPORT_INTERVAL = 5min;  // full report every 5 min
constexpr Duration NETCHECK_HISTORY_MAX_AGE = 5min;       // maxAge in addReportHistoryAndSetPreferredDERP
constexpr Duration PREFERRED_DERP_ABSOLUTE_DIFF = 10ms;   // hysteresis: absolute improvement
constexpr Duration PREFERRED_DERP_FRAME_TIME = 8s;        // "heard from recently" window
constexpr Duration DERP_KEEP_HOME_WITHOUT_SAMPLE = 120s;  // 2 × derp KeepAlive
constexpr Duration NETCHECK_FULL_TRY_SPACING = 100ms;     // 0, 100, 200 ms in a full plan
constexpr int NETCHECK_FULL_TRIES = 3;
constexpr size_t NETCHECK_ENOUGH_REGIONS = 3;                   // then wait max latency (×2 full) more
constexpr size_t NETCHECK_INCREMENTAL_REGIONS = 3;              // numIncrementalRegions
constexpr Duration NETCHECK_DEFAULT_ACTIVE_RETRANSMIT = 200ms;  // defaultActiveRetransmitTime
constexpr Duration NETCHECK_RETRY_EXTRA = 50ms;                 // + k × 50 ms for try k > 1
constexpr int STUN_DEFAULT_PORT = 3478;

// derp/derp.go, wgengine/magicsock/derp.go, logtail/backoff
constexpr Duration DERP_KEEP_ALIVE = 60s;             // derp.KeepAlive (server → client)
constexpr Duration DERP_CLIENT_READ_TIMEOUT = 120s;   // 2 × KeepAlive
constexpr Duration DERP_INACTIVE_CLEANUP_TIME = 60s;  // derpInactiveCleanupTime
constexpr Duration DERP_CLEAN_STALE_INTERVAL = 15s;   // derpCleanStaleInterval
constexpr Duration DERP_RECONNECT_MAX_BACKOFF = 5s;   // backoff.NewBackoff(..., 5s)
constexpr Duration BACKOFF_UNIT = 10ms;               // d = n² × 10 ms

}  // namespace tnet::magicsock
