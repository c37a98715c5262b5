// `<state-dir>/prefs.json` on disk: crash-safe saves (write a temp file, fsync, rename, fsync the
// directory) and loads that never silently replace a bad file: an unreadable or corrupt one is
// renamed `prefs.json.corrupt-<unix time>` and reported; if even that fails, the store is
// unhealthy (Go's StateStoreHealth → NoState) and nothing is overwritten.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "libs/base/result.h"
#include "services/ipnd/core/prefs_file.h"

namespace tnet::ipnd {

inline constexpr std::string_view PREFS_FILE_NAME = "prefs.json";

struct PrefsLoad {
  PrefsFile file;                        // defaults unless a good file was read
  std::optional<std::string> health;     // a line for Status.Health (file set aside)
  std::optional<std::string> unhealthy;  // set when the store cannot be used at all
};

PrefsLoad loadPrefsFile(const std::string& stateDir, int64_t nowUnix);

// Atomic replace; the file is 0600. The directory must exist (0700).
Result<void> savePrefsFile(const std::string& stateDir, const PrefsFile& file);

}  // namespace tnet::ipnd
