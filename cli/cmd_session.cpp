// login, logout, ip (Go's cmd/tailscale/cli login.go, logout.go, ip.go).
#include <iostream>

#include "cli/commands.h"
#include "cli/localapi_calls.h"

namespace tnet::cli {

namespace {

std::string quotedArgs(const std::vector<std::string>& args) {
  std::string out = "[";
  for (size_t i = 0; i < args.size(); ++i) out += (i ? " " : "") + args[i];
  return out + "]";
}

}  // namespace

int runLogin(CommandContext& ctx, UpArgs args) {
  // Go switches to a new, empty login profile and runs `up` in login mode: a fresh node key
  // and login even when logged in. tailnetd has one profile, so that is a re-authentication.
  args.loginMode = true;
  args.forceReauth = true;
  return runUp(ctx, args);
}

int runLogout(CommandContext& ctx, const std::vector<std::string>& extraArgs) {
  if (!extraArgs.empty()) {
    return reportError(ctx, Error::invalid("too many non-flag arguments: " + quotedArgs(extraArgs)));
  }
  auto r = callLocalApi(ctx.client, "POST", "/localapi/v0/logout", 204);
  if (!r) return reportError(ctx, r.error());
  return EXIT_OK;
}

int runIp(CommandContext& ctx, const IpArgs& args, const std::vector<std::string>& extraArgs) {
  if (!extraArgs.empty()) return reportError(ctx, Error::invalid("too many arguments, expected at most one peer"));
  auto st = getJson(ctx.client, "/localapi/v0/status");
  if (!st) return reportError(ctx, st.error());
  auto ips = selectIps(*st, args);
  if (!ips) return reportError(ctx, ips.error());
  for (const auto& ip : *ips) std::cout << ip << "\n";
  return EXIT_OK;
}

}  // namespace tnet::cli
