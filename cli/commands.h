// The verbs. Each returns the process exit code; errors are printed here, in Go's words.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cli/ip_select.h"
#include "cli/localapi_client.h"
#include "cli/prefs_flags.h"
#include "cli/status_format.h"

namespace tnet::cli {

// Exit codes: 0 success, 1 failure (as Go's CLI), 2 bad usage (Go's flag package).
inline constexpr int EXIT_OK = 0;
inline constexpr int EXIT_FAILURE_CODE = 1;
inline constexpr int EXIT_USAGE = 2;

struct CommandContext {
  LocalApiClient& client;
  std::vector<std::string> argv;  // as typed, for the "Use 'sudo tnet …'" hint
};

struct UpArgs {
  PrefFlags prefs;
  std::string authKeyOrFile;
  bool reset = false;
  bool forceReauth = false;
  bool json = false;
  std::chrono::nanoseconds timeout{0};  // ≤ 0: wait forever
  bool anyFlagGiven = false;
  bool loginMode = false;  // `tnet login`: Go's runUp("login"), always a new login
  std::vector<std::pair<std::string, std::string>> explicitFlags;  // (name, "--name=value")
};

struct StatusArgs {
  bool json = false;
  StatusView view;
};

struct VersionArgs {
  bool json = false;
  bool daemon = false;
};

struct PingArgs {
  std::string target;
  int count = 10;
  bool untilDirect = true;
  bool verbose = false;
  bool tsmp = false;
  bool icmp = false;
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
};

struct WhoIsArgs {
  bool json = false;
  std::vector<std::string> positional;
};

struct NetcheckArgs {
  std::string format;  // "", "json", "json-line"
  bool verbose = false;
};

int runUp(CommandContext& ctx, const UpArgs& args);
int runPing(CommandContext& ctx, const PingArgs& args);
int runWhoIs(CommandContext& ctx, const WhoIsArgs& args);
int runNetcheck(CommandContext& ctx, const NetcheckArgs& args);
int runDown(CommandContext& ctx);
// Returns EXIT_USAGE-like "show help" as std::nullopt when no flag was given.
std::optional<int> runSet(CommandContext& ctx, const PrefFlags& flags);
int runStatus(CommandContext& ctx, const StatusArgs& args);
int runVersion(CommandContext* ctx, const VersionArgs& args);
int runDebugIsolation(CommandContext& ctx);
int runLogin(CommandContext& ctx, UpArgs args);
int runLogout(CommandContext& ctx, const std::vector<std::string>& extraArgs);
int runIp(CommandContext& ctx, const IpArgs& args, const std::vector<std::string>& extraArgs);

// Prints an error the way Go's main does (the message, then exit 1), adding Go's sudo hint to
// "Access denied" for non-root callers.
int reportError(const CommandContext& ctx, const Error& error);

}  // namespace tnet::cli
