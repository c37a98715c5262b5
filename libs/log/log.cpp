#include "libs/log/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace tnet::log {

namespace {

int currentLevel = LEVEL_INFO;

}  // namespace

spdlog::level::level_enum toSpdlogLevel(int level) {
  switch (level) {
    case LEVEL_DEBUG:
      return spdlog::level::debug;
    case LEVEL_TRACE:
      return spdlog::level::trace;
    default:
      return spdlog::level::info;
  }
}

spdlog::logger& init(std::string_view service, int level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(service), sink);
  // A terminal wants "<time> <level> <service>: <message>". Under systemd (JOURNAL_STREAM set,
  // stderr connected to the journal) journald adds time and unit itself.
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    logger->set_pattern("%l %n: %v");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %n: %v");
  }
  currentLevel = std::clamp(level, LEVEL_INFO, LEVEL_MAX);
  logger->set_level(toSpdlogLevel(currentLevel));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return *logger;
}

spdlog::logger& logger() {
  return *spdlog::default_logger_raw();
}

Result<void> setLevel(int level) {
  if (level < LEVEL_INFO || level > LEVEL_MAX) {
    return Error::invalid("log level must be 0 (info), 1 (debug) or 2 (trace), got " + std::to_string(level));
  }
  currentLevel = level;
  logger().set_level(toSpdlogLevel(level));
  return {};
}

int level() {
  return currentLevel;
}

std::string shortKey(std::string_view prefix, std::span<const uint8_t> bytes) {
  static constexpr char HEX[] = "0123456789abcdef";
  std::string out(prefix);
  for (size_t i = 0; i < bytes.size() && i < 4; ++i) {
    out.push_back(HEX[bytes[i] >> 4]);
    out.push_back(HEX[bytes[i] & 0xf]);
  }
  return out;
}

std::string quote(std::string_view value) {
  bool plain = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c >= 0x7f) plain = false;
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < ' ' || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

RateLimiter::RateLimiter(double perSecond, double burst)
    : perSecond_(perSecond), burst_(burst), tokens_(burst), last_(std::chrono::steady_clock::now()) {}

bool RateLimiter::allow(std::chrono::steady_clock::time_point now) {
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * perSecond_);
    last_ = now;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  ++suppressed_;
  return false;
}

uint64_t RateLimiter::takeSuppressed() {
  uint64_t n = suppressed_;
  suppressed_ = 0;
  return n;
}

}  // namespace tnet::log
