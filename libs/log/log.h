// One spdlog logger per service, named after it, writing to stderr (journald picks stderr up
// under systemd). Levels on the command line and over sys.setLogLevel:
//   0 = info (default), 1 = debug, 2 = trace.  Warnings and errors are always shown.
// Messages are "<event> key=value key=value" with stable event names, e.g.
//   log::logger().info("peer.handshake peer={} gen={}", shortKey(pub), gen);
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::log {

inline constexpr int LEVEL_INFO = 0;
inline constexpr int LEVEL_DEBUG = 1;
inline constexpr int LEVEL_TRACE = 2;
inline constexpr int LEVEL_MAX = 2;

// Creates (or replaces) the process's logger named `service` on stderr and makes it spdlog's
// default, so spdlog::info() and logger() are the same thing. Call once in main.
spdlog::logger& init(std::string_view service, int level = LEVEL_INFO);

// The process's logger (init() must have run; before it, a logger named "tnet" is used).
spdlog::logger& logger();

// Changes the level at runtime. Fails with invalid for anything outside 0..LEVEL_MAX.
Result<void> setLevel(int level);
int level();

// Maps 0|1|2 to spdlog levels.
spdlog::level::level_enum toSpdlogLevel(int level);

// Public keys and other identifiers shortened for logs: the first 8 hex digits of `bytes`,
// prefixed, e.g. shortKey("nodekey:", key) -> "nodekey:1a2b3c4d". Never pass private keys.
std::string shortKey(std::string_view prefix, std::span<const uint8_t> bytes);

// Quotes a value for key=value output when it has spaces, quotes or control characters; control
// characters are escaped so network input cannot forge log lines.
std::string quote(std::string_view value);

// Token bucket for logs triggered by network (or other untrusted) input: at most `burst` lines,
// refilled at `perSecond`. allow() says whether to log now; the number suppressed since the last
// allowed line is returned by takeSuppressed() so the next line can say "suppressed=N".
class RateLimiter {
 public:
  RateLimiter(double perSecond, double burst);

  bool allow(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  uint64_t takeSuppressed();

 private:
  double perSecond_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
  uint64_t suppressed_ = 0;
};

}  // namespace tnet::log
