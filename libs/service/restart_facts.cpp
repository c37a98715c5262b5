#include "libs/service/restart_facts.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace tnet::service {
namespace {

// describeWaitStatus never gets near this; a longer value did not come from the supervisor.
constexpr size_t MAX_REASON = 200;

template <typename T>
bool parseNumber(const char* text, T& out) {
  if (text == nullptr) return false;
  const char* end = text + std::strlen(text);
  auto [p, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && p == end && p != text;
}

}  // namespace

RestartFacts restartFactsFromEnvironment(const std::function<const char*(const char*)>& getenv) {
  RestartFacts f;
  const char* reason = getenv("TAILNETD_LAST_EXIT");
  if (!parseNumber(getenv("TAILNETD_RESTARTS"), f.restarts) || f.restarts == 0 || reason == nullptr) return {};
  f.lastExit = reason;
  bool printable = std::all_of(f.lastExit.begin(), f.lastExit.end(),
                               [](char c) { return c >= 0x20 && c < 0x7f; });
  if (f.lastExit.empty() || f.lastExit.size() > MAX_REASON || !printable) return {};
  if (!parseNumber(getenv("TAILNETD_LAST_EXIT_UNIX_MS"), f.lastExitUnixMs) || f.lastExitUnixMs < 0) {
    f.lastExitUnixMs = 0;  // the reason still counts; the time is unknown
  }
  return f;
}

void writeRestartFacts(const RestartFacts& facts, schema::Health::Builder health) {
  if (facts.restarts == 0) return;
  health.setLastExit(facts.lastExit);
  health.setLastExitUnixMs(facts.lastExitUnixMs);
  health.setRestarts(facts.restarts);
}

}  // namespace tnet::service
