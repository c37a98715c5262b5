// What the supervisor tells a restarted service about its predecessor (docs/supervisor.md
// "Restart facts"), read once at start and carried in every <svc>.health this process publishes,
// so ipnd can show "restarted ... after signal 11" without any per-service code.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "schemas/common.capnp.h"

namespace tnet::service {

struct RestartFacts {
  uint32_t restarts = 0;       // 0: first start, or not started by tailnetd
  std::string lastExit;        // "signal 11 (Segmentation fault)", "exit 1"
  int64_t lastExitUnixMs = 0;  // wall clock of the predecessor's exit
};

// Reads TAILNETD_RESTARTS, TAILNETD_LAST_EXIT, TAILNETD_LAST_EXIT_UNIX_MS through `getenv`.
// Anything malformed (not a positive count, no reason, a reason that is not short printable
// text) yields no facts: a health line must never carry junk.
RestartFacts restartFactsFromEnvironment(const std::function<const char*(const char*)>& getenv);

// Sets lastExit, lastExitUnixMs and restarts of `health` (left unset when there are no facts).
void writeRestartFacts(const RestartFacts& facts, schema::Health::Builder health);

}  // namespace tnet::service
