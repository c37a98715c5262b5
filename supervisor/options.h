// tailnetd's command line and environment, and the paths they resolve to. Flags override the
// TAILNETD_* variables; defaults follow ARCHITECTURE.md §Files (the same order `tnet` uses).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::supervisor {

struct Options {
  std::string stateDir;    // empty: default for the user
  std::string socket;      // empty: derived
  std::string runtimeDir;  // empty: derived
  std::optional<uint16_t> port;
  int verbose = 0;  // 0 info, 1 debug, 2 trace → services' --log-level
  std::string configFile;
  std::string socks5Server;
  std::string httpProxyListen;
  std::vector<std::string> external;  // services started by hand
};

// What parseOptions wants the caller to do.
struct ParseOutcome {
  std::optional<Options> options;  // set: run
  int exitCode = 0;                // otherwise exit with this (help/version printed, or error)
};

// Parses argv (CLI11) with TAILNETD_* fallbacks from the process environment. --help and
// --version print to stdout; errors print one line to stderr ("tailnetd: ...").
ParseOutcome parseOptions(int argc, const char* const* argv);

// The environment as a lookup, so path resolution is testable.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
EnvLookup processEnvironment();

struct StatePaths {
  std::string stateDir;        // absolute, not yet created
  bool stateDirNamed = false;  // --statedir / TAILNETD_STATE_DIR given
};

// The state dir: the named one, else /var/lib/tailnetd (root), $XDG_STATE_HOME/tailnetd or
// $HOME/.local/state/tailnetd.
Result<StatePaths> resolveStateDir(const Options& opts, uid_t uid, const EnvLookup& env);

struct RuntimePaths {
  std::string socket;
  std::string runtimeDir;
};

// Socket and runtime dir, given the state dir's real path (it feeds the runtime dir's hash).
RuntimePaths resolveRuntimePaths(const Options& opts, const StatePaths& state,
                                 const std::string& realStateDir, uid_t uid, const EnvLookup& env);

// First 8 hex digits of SHA-256 of text: the short per-statedir runtime dir suffix.
std::string shortPathHash(const std::string& text);

// Makes a path absolute against the current directory (no symlink resolution).
std::string absolutePath(const std::string& path);

}  // namespace tnet::supervisor
