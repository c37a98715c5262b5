// tnet: the thin LocalAPI client. Flag parsing lives here (the one translation unit that
// includes CLI11); the verbs live in cmd_*.cpp.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/install_cli.h"
#include "cli/socket_path.h"

namespace {

using namespace tnet::cli;

// Adds the preference flags `up` and `set` share; the optionals are filled after parsing.
struct PrefFlagOptions {
  std::string loginServer, advertiseRoutes, exitNode, hostname, operatorUser;
  bool acceptRoutes = false, acceptDns = true, shieldsUp = false, advertiseExitNode = false,
       exitNodeAllowLan = false;
  CLI::Option* loginServerOpt = nullptr;
  CLI::Option* acceptRoutesOpt = nullptr;
  CLI::Option* acceptDnsOpt = nullptr;
  CLI::Option* shieldsUpOpt = nullptr;
  CLI::Option* advertiseRoutesOpt = nullptr;
  CLI::Option* advertiseExitNodeOpt = nullptr;
  CLI::Option* exitNodeOpt = nullptr;
  CLI::Option* exitNodeAllowLanOpt = nullptr;
  CLI::Option* hostnameOpt = nullptr;
  CLI::Option* operatorOpt = nullptr;

  void add(CLI::App* cmd, bool withLoginServer) {
    if (withLoginServer) {
      loginServerOpt =
          cmd->add_option("--login-server", loginServer,
                          "base URL of control server (default: the saved one, else "
                          "TS_CONTROL_URL of the daemon, else https://controlplane.tailscale.com)");
    }
    acceptRoutesOpt =
        cmd->add_flag("--accept-routes", acceptRoutes, "accept routes advertised by other Tailscale nodes");
    acceptDnsOpt = cmd->add_flag("--accept-dns", acceptDns,
                                 "accept DNS configuration from the admin panel (default true)");
    exitNodeOpt = cmd->add_option("--exit-node", exitNode,
                                  "Tailscale exit node (IP or base name) for internet traffic, or empty "
                                  "string to not use an exit node");
    exitNodeAllowLanOpt = cmd->add_flag("--exit-node-allow-lan-access", exitNodeAllowLan,
                                        "allow direct access to the local network when routing traffic via "
                                        "an exit node");
    shieldsUpOpt = cmd->add_flag("--shields-up", shieldsUp, "don't allow incoming connections");
    hostnameOpt =
        cmd->add_option("--hostname", hostname, "hostname to use instead of the one provided by the OS");
    advertiseRoutesOpt =
        cmd->add_option("--advertise-routes", advertiseRoutes,
                        "routes to advertise to other nodes (comma-separated, e.g. "
                        "\"10.0.0.0/8,192.168.0.0/24\") or empty string to not advertise routes");
    advertiseExitNodeOpt = cmd->add_flag("--advertise-exit-node", advertiseExitNode,
                                         "offer to be an exit node for internet traffic for the tailnet");
    operatorOpt = cmd->add_option("--operator", operatorUser,
                                  "Unix username to allow to operate on tailnetd without sudo");
  }

  PrefFlags collect() const {
    PrefFlags f;
    if (loginServerOpt && loginServerOpt->count()) f.loginServer = loginServer;
    if (acceptRoutesOpt->count()) f.acceptRoutes = acceptRoutes;
    if (acceptDnsOpt->count()) f.acceptDns = acceptDns;
    if (shieldsUpOpt->count()) f.shieldsUp = shieldsUp;
    if (advertiseRoutesOpt->count()) f.advertiseRoutes = advertiseRoutes;
    if (advertiseExitNodeOpt->count()) f.advertiseExitNode = advertiseExitNode;
    if (exitNodeOpt->count()) f.exitNode = exitNode;
    if (exitNodeAllowLanOpt->count()) f.exitNodeAllowLanAccess = exitNodeAllowLan;
    if (hostnameOpt->count()) f.hostname = hostname;
    if (operatorOpt->count()) f.operatorUser = operatorUser;
    return f;
  }

  // The flags as the up checker repeats them (Go's flag.Visit formatting).
  void explicitFlags(std::vector<std::pair<std::string, std::string>>& out) const {
    PrefFlags f = collect();
    auto addStr = [&](const char* name, const std::optional<std::string>& v) {
      if (v) out.emplace_back(name, formatFlagArg(name, *v));
    };
    auto addBool = [&](const char* name, const std::optional<bool>& v) {
      if (v) out.emplace_back(name, formatFlagArg(name, *v));
    };
    addStr("login-server", f.loginServer);
    addBool("accept-routes", f.acceptRoutes);
    addBool("accept-dns", f.acceptDns);
    addBool("shields-up", f.shieldsUp);
    addStr("advertise-routes", f.advertiseRoutes);
    addBool("advertise-exit-node", f.advertiseExitNode);
    addStr("exit-node", f.exitNode);
    addBool("exit-node-allow-lan-access", f.exitNodeAllowLanAccess);
    addStr("hostname", f.hostname);
    addStr("operator", f.operatorUser);
  }
};

int usageError(CLI::App& app, const std::string& message) {
  std::cerr << "tnet: " << message << "\n\n" << app.help() << std::flush;
  return EXIT_USAGE;
}

int run(int argc, char** argv) {
  std::vector<std::string> args = normalizeArgs(std::vector<std::string>(argv + 1, argv + argc));

  CLI::App app{"tnet: the tailnetd command-line client (a LocalAPI client, like Go's `tailscale`)", "tnet"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string socketFlag;
  auto* socketOpt = app.add_option("--socket", socketFlag,
                                   "path to the tailnetd LocalAPI socket (default: TAILNETD_SOCKET, "
                                   "$TAILNETD_STATE_DIR/tailnetd.sock, /run/tailnetd/tailnetd.sock, "
                                   "~/.local/state/tailnetd/tailnetd.sock)");

  // up
  auto* up = app.add_subcommand("up", "Connect to Tailscale, logging in if needed");
  PrefFlagOptions upPrefs;
  upPrefs.add(up, true);
  std::string authKey, timeoutText;
  bool reset = false, forceReauth = false, upJson = false;
  auto* authKeyOpt = up->add_option("--auth-key,--authkey", authKey,
                                    "node authorization key; if it begins with \"file:\", then it's a path "
                                    "to a file containing the authkey");
  auto* resetOpt = up->add_flag("--reset", reset, "reset unspecified settings to their default values");
  auto* forceReauthOpt = up->add_flag("--force-reauth", forceReauth,
                                      "force reauthentication (WARNING: this may bring down the Tailscale "
                                      "connection and thus should not be done remotely over SSH)");
  auto* timeoutOpt = up->add_option("--timeout", timeoutText,
                                    "maximum amount of time to wait for tailnetd to enter a Running state "
                                    "(Go duration such as 30s, 1m30s, 500ms; a bare number is seconds); "
                                    "default (0s) blocks forever");
  auto* upJsonOpt = up->add_flag("--json", upJson, "output in JSON format");

  // login: up's flags (Go's newUpFlagSet(…, "login")).
  auto* login = app.add_subcommand("login", "Log in to a Tailscale account");
  PrefFlagOptions loginPrefs;
  loginPrefs.add(login, true);
  std::string loginAuthKey, loginTimeoutText;
  login->add_option("--auth-key,--authkey", loginAuthKey,
                    "node authorization key; if it begins with \"file:\", then it's a path to a file "
                    "containing the authkey");
  login->add_option("--timeout", loginTimeoutText,
                    "maximum amount of time to wait for tailnetd to enter a Running state; default (0s) "
                    "blocks forever");

  // logout, ip
  auto* logout = app.add_subcommand("logout", "Disconnect from Tailscale and expire current node key");
  std::vector<std::string> logoutArgs;
  logout->add_option("args", logoutArgs)->expected(0, -1);
  auto* ip = app.add_subcommand("ip", "Show Tailscale IP addresses");
  IpArgs ipArgs;
  std::vector<std::string> ipExtra;
  ip->add_flag("-1", ipArgs.want1, "only print one IP address");
  ip->add_flag("-4", ipArgs.want4, "only print IPv4 address");
  ip->add_flag("-6", ipArgs.want6, "only print IPv6 address");
  ip->add_option("peer", ipArgs.peer, "peer hostname or IP (default: this node)");
  ip->add_option("extra", ipExtra)->expected(0, -1);

  // down
  auto* down = app.add_subcommand("down", "Disconnect from Tailscale");

  // set
  auto* set = app.add_subcommand("set", "Change specified preferences");
  PrefFlagOptions setPrefs;
  setPrefs.add(set, false);

  // status
  auto* status = app.add_subcommand("status", "Show state of tailnetd and its connections");
  StatusArgs statusArgs;
  status->add_flag("--json", statusArgs.json, "output in JSON format (the daemon's Status JSON, unchanged)");
  status->add_flag("--active", statusArgs.view.active, "filter output to only peers with active sessions");
  status->add_flag("--self", statusArgs.view.self,
                   "show status of local machine (default true; --self=false hides it)");
  status->add_flag("--peers", statusArgs.view.peers,
                   "show status of peers (default true; --peers=false asks the daemon for none)");
  status->add_flag("--header", statusArgs.view.header, "show column headers in table format");

  // version
  auto* version = app.add_subcommand("version", "Print tnet's version");
  VersionArgs versionArgs;
  version->add_flag("--json", versionArgs.json, "output in JSON format");
  version->add_flag("--daemon", versionArgs.daemon, "also print the tailnetd daemon's version");

  // ping
  auto* ping = app.add_subcommand("ping", "Ping a host at the Tailscale layer, see how it routed");
  PingArgs pingArgs;
  std::string pingTimeoutText;
  ping->add_flag("--verbose", pingArgs.verbose, "verbose output");
  ping->add_flag("--until-direct", pingArgs.untilDirect, "stop once a direct path is established (default true)");
  ping->add_flag("--tsmp", pingArgs.tsmp,
                 "do a TSMP-level ping (through WireGuard, but not either host OS stack)");
  ping->add_flag("--icmp", pingArgs.icmp,
                 "do a ICMP-level ping (through WireGuard, but not the local host OS stack)");
  ping->add_option("-c", pingArgs.count, "max number of pings to send (default 10)");
  auto* pingTimeoutOpt = ping->add_option("--timeout", pingTimeoutText, "timeout before giving up on a ping (default 5s)");
  ping->add_option("host", pingArgs.target, "hostname or IP");

  // whois
  auto* whois = app.add_subcommand("whois", "Show the machine and user associated with a Tailscale IP (v4 or v6)");
  WhoIsArgs whoisArgs;
  whois->add_flag("--json", whoisArgs.json, "output in JSON format");
  whois->add_option("ip", whoisArgs.positional, "ip[:port]")->expected(0, -1);

  // netcheck
  auto* netcheck = app.add_subcommand("netcheck", "Print an analysis of local network conditions");
  NetcheckArgs netcheckArgs;
  netcheck->add_option("--format", netcheckArgs.format, "output format; empty (for human-readable), \"json\" or \"json-line\"");
  netcheck->add_flag("--verbose", netcheckArgs.verbose, "verbose logs");

  // debug
  auto* debug = app.add_subcommand("debug", "Debugging tools");
  debug->require_subcommand(1);
  auto* isolation = debug->add_subcommand(
      "isolation", "Show each service's confinement: uid, no_new_privs, capabilities, seccomp, netns");

  auto installCommands = addInstallCommands(app);

  std::vector<const char*> cargv;
  cargv.push_back(argv[0]);
  for (const auto& a : args) cargv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(cargv.size()), const_cast<char**>(cargv.data()));
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usageError(app, e.what());
  }

  auto candidates = socketCandidates(socketLookupFromEnvironment(
      socketOpt->count() ? std::optional<std::string>(socketFlag) : std::nullopt));
  LocalApiClient client(candidates);
  CommandContext ctx{client, args};

  if (up->parsed()) {
    UpArgs u;
    u.prefs = upPrefs.collect();
    u.authKeyOrFile = authKey;
    u.reset = reset;
    u.forceReauth = forceReauth;
    u.json = upJson;
    if (timeoutOpt->count()) {
      auto d = parseDuration(timeoutText);
      if (!d) {
        return usageError(app,
                          "invalid value \"" + timeoutText + "\" for flag --timeout: " + d.error().message);
      }
      u.timeout = *d;
    }
    u.anyFlagGiven = !u.prefs.empty() || authKeyOpt->count() || resetOpt->count() ||
                     forceReauthOpt->count() || timeoutOpt->count() || upJsonOpt->count();
    upPrefs.explicitFlags(u.explicitFlags);
    if (authKeyOpt->count()) {
      // Never echo a key: a file: path is fine to repeat, a literal key is not.
      u.explicitFlags.emplace_back("auth-key", authKey.rfind("file:", 0) == 0
                                                   ? formatFlagArg("auth-key", authKey)
                                                   : std::string("--auth-key=REDACTED"));
    }
    if (resetOpt->count()) u.explicitFlags.emplace_back("reset", formatFlagArg("reset", reset));
    if (forceReauthOpt->count())
      u.explicitFlags.emplace_back("force-reauth", formatFlagArg("force-reauth", forceReauth));
    if (timeoutOpt->count())
      u.explicitFlags.emplace_back("timeout", formatFlagArg("timeout", formatDuration(u.timeout)));
    if (upJsonOpt->count()) u.explicitFlags.emplace_back("json", formatFlagArg("json", upJson));
    return runUp(ctx, u);
  }
  if (login->parsed()) {
    UpArgs u;
    u.prefs = loginPrefs.collect();
    u.authKeyOrFile = loginAuthKey;
    if (!loginTimeoutText.empty()) {
      auto d = parseDuration(loginTimeoutText);
      if (!d) return usageError(app, "invalid value \"" + loginTimeoutText + "\" for flag --timeout: " + d.error().message);
      u.timeout = *d;
    }
    loginPrefs.explicitFlags(u.explicitFlags);
    return runLogin(ctx, u);
  }
  if (logout->parsed()) return runLogout(ctx, logoutArgs);
  if (ip->parsed()) return runIp(ctx, ipArgs, ipExtra);
  if (down->parsed()) return runDown(ctx);
  if (set->parsed()) {
    auto rc = runSet(ctx, setPrefs.collect());
    if (!rc) {
      // Nothing to change: Go shows the usage (and exits 0).
      std::cerr << app.help();
      return EXIT_OK;
    }
    return *rc;
  }
  if (status->parsed()) return runStatus(ctx, statusArgs);
  if (version->parsed()) return runVersion(versionArgs.daemon ? &ctx : nullptr, versionArgs);
  if (isolation->parsed()) return runDebugIsolation(ctx);
  if (ping->parsed()) {
    if (pingTimeoutOpt->count()) {
      auto d = parseDuration(pingTimeoutText);
      if (!d) {
        return usageError(app, "invalid value \"" + pingTimeoutText + "\" for flag --timeout: " + d.error().message);
      }
      pingArgs.timeout = *d;
    }
    return runPing(ctx, pingArgs);
  }
  if (whois->parsed()) return runWhoIs(ctx, whoisArgs);
  if (netcheck->parsed()) return runNetcheck(ctx, netcheckArgs);
  if (auto rc = runInstallCommands(*installCommands)) return *rc;
  return usageError(app, "unknown subcommand");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // A library threw where we did not expect it: say so in one line rather than abort.
    std::cerr << "tnet: " << e.what() << "\n";
    return EXIT_FAILURE_CODE;
  }
}
