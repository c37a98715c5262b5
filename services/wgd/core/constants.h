// WireGuard's protocol constants, named and valued as in the whitepaper §6 and wireguard-go's
// device/constants.go, so a reader can check them side by side.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tnet::wg {

using Duration = std::chrono::nanoseconds;
using namespace std::chrono_literals;

// Specification constants.
inline constexpr uint64_t REKEY_AFTER_MESSAGES = uint64_t(1) << 60;
inline constexpr uint64_t REJECT_AFTER_MESSAGES = UINT64_MAX - (uint64_t(1) << 13);  // 2^64 - 2^13 - 1
inline constexpr Duration REKEY_AFTER_TIME = 120s;
inline constexpr Duration REKEY_ATTEMPT_TIME = 90s;
inline constexpr Duration REKEY_TIMEOUT = 5s;
inline constexpr uint32_t MAX_TIMER_HANDSHAKES = 90 / 5;  // REKEY_ATTEMPT_TIME / REKEY_TIMEOUT
inline constexpr uint32_t REKEY_TIMEOUT_JITTER_MAX_MS = 334;
inline constexpr Duration REJECT_AFTER_TIME = 180s;
inline constexpr Duration KEEPALIVE_TIMEOUT = 10s;
inline constexpr Duration COOKIE_REFRESH_TIME = 120s;
inline constexpr Duration HANDSHAKE_INITIATION_RATE = 1000ms / 50;
inline constexpr size_t PADDING_MULTIPLE = 16;

// Implementation constants (wireguard-go).
inline constexpr Duration UNDER_LOAD_AFTER_TIME = 1s;  // how long the device stays under load
inline constexpr size_t QUEUE_HANDSHAKE_SIZE = 1024;
// Under load once this many handshake messages wait (wireguard-go: QueueHandshakeSize / 8).
inline constexpr size_t UNDER_LOAD_QUEUE_LENGTH = QUEUE_HANDSHAKE_SIZE / 8;
inline constexpr size_t QUEUE_STAGED_SIZE = 128;  // packets kept per peer while handshaking
inline constexpr size_t MAX_PEERS = size_t(1) << 16;

// Handshake rate limiter per source (wireguard-go ratelimiter): 20 per second, burst of 5.
inline constexpr uint64_t RATELIMIT_PACKETS_PER_SECOND = 20;
inline constexpr uint64_t RATELIMIT_PACKETS_BURSTABLE = 5;

// Tailscale's TUN MTU (net/tstun safeTUNMTU), used for padding unless configured otherwise.
inline constexpr uint16_t DEFAULT_TUN_MTU = 1280;

}  // namespace tnet::wg
