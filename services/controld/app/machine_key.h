// The machine key: controld's long-lived identity towards control (ARCHITECTURE.md §Keys).
// Generated on first start, kept in `<state-dir>/machine.key` (0600 in a 0700 dir) in Go's
// "privkey:<64 hex>" text form, and in memory only in sodium_malloc storage.
#pragma once

#include <string>

#include "libs/base/result.h"
#include "libs/wire/keys.h"

namespace tnet::controld {

inline constexpr const char* MACHINE_KEY_FILE = "machine.key";

// RLIMIT_CORE=0 and PR_SET_DUMPABLE=0: no core dump and no ptrace by same-uid processes can
// expose the key. Called before the key is loaded.
Result<void> hardenForKeys();

// Loads `<stateDir>/machine.key`, or creates it (O_EXCL, 0600, fsync, rename) when absent. The
// directory is created 0700 if missing and tightened to 0700 if it is looser. A file that exists
// but does not parse is an error (never silently replaced: the node would lose its identity).
Result<key::MachinePrivate> loadOrCreateMachineKey(const std::string& stateDir);

}  // namespace tnet::controld
