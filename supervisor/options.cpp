#include "supervisor/options.h"

#include <sodium.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "libs/base/bytes.h"
#include "supervisor/service_table.h"

namespace tnet::supervisor {

ParseOutcome parseOptions(int argc, const char* const* argv) {
  Options o;
  CLI::App app{"tailnetd: a Tailscale node as a suite of sandboxed services", "tailnetd"};
  app.set_version_flag("--version", std::string("tailnetd ") + TNET_VERSION);
  app.add_option("--statedir", o.stateDir,
                 "directory for state (default /var/lib/tailnetd as root, else $XDG_STATE_HOME/tailnetd)")
      ->envname("TAILNETD_STATE_DIR");
  app.add_option("--socket", o.socket,
                 "LocalAPI socket (default <statedir>/tailnetd.sock, or /run/tailnetd/tailnetd.sock as root)")
      ->envname("TAILNETD_SOCKET");
  app.add_option("--runtime-dir", o.runtimeDir, "directory for the services' bus endpoints")
      ->envname("TAILNETD_RUNTIME_DIR");
  app.add_option("--port", o.port, "UDP port magicsockd listens on (0 = automatic)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--verbose", o.verbose, "log verbosity: 0 info, 1 debug, 2 trace")
      ->envname("TAILNETD_LOG")
      ->check(CLI::Range(0, 2));
  app.add_option("--config", o.configFile, "ConfigVAlpha file (validated before anything starts)");
  app.add_option("--socks5-server", o.socks5Server, "SOCKS5 listen address for netstackd (host:port)");
  app.add_option("--outbound-http-proxy-listen", o.httpProxyListen,
                 "HTTP proxy listen address for netstackd (host:port)");
  std::vector<std::string> names;
  for (const auto& s : serviceTable()) names.push_back(s.name);
  app.add_option("--external", o.external, "do not start this service; wait for one started by hand")
      ->check(CLI::IsMember(names));
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version (CallForHelp etc. derive from it)
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::ParseError& e) {
    // One line, whatever CLI11 would have printed.
    std::string msg = e.what();
    for (char& c : msg) {
      if (c == '\n') c = ' ';
    }
    std::fprintf(stderr, "tailnetd: %s (see --help)\n", msg.c_str());
    return {std::nullopt, 2};
  }
  return {std::move(o), 0};
}

EnvLookup processEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string absolutePath(const std::string& path) {
  if (path.empty() || path[0] == '/') return std::filesystem::path(path).lexically_normal().string();
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  return (cwd / path).lexically_normal().string();
}

static std::string stripTrailingSlash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

Result<StatePaths> resolveStateDir(const Options& opts, uid_t uid, const EnvLookup& env) {
  StatePaths s;
  if (!opts.stateDir.empty()) {
    s.stateDir = stripTrailingSlash(absolutePath(opts.stateDir));
    s.stateDirNamed = true;
    return s;
  }
  if (uid == 0) {
    s.stateDir = "/var/lib/tailnetd";
    return s;
  }
  auto xdg = env("XDG_STATE_HOME");
  if (xdg && !xdg->empty() && (*xdg)[0] == '/') {
    s.stateDir = stripTrailingSlash(*xdg) + "/tailnetd";
    return s;
  }
  auto home = env("HOME");
  if (home && !home->empty() && (*home)[0] == '/') {
    s.stateDir = stripTrailingSlash(*home) + "/.local/state/tailnetd";
    return s;
  }
  return Error::invalid("no state dir: set --statedir (neither XDG_STATE_HOME nor HOME is an absolute path)");
}

std::string shortPathHash(const std::string& text) {
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  return hexEncode(ByteSpan(digest, 4));
}

RuntimePaths resolveRuntimePaths(const Options& opts, const StatePaths& state,
                                 const std::string& realStateDir, uid_t uid, const EnvLookup& env) {
  RuntimePaths r;
  bool socketNamed = !opts.socket.empty();
  if (socketNamed) {
    r.socket = absolutePath(opts.socket);
  } else if (state.stateDirNamed || uid != 0) {
    r.socket = state.stateDir + "/tailnetd.sock";
  } else {
    r.socket = "/run/tailnetd/tailnetd.sock";
  }

  if (!opts.runtimeDir.empty()) {
    r.runtimeDir = stripTrailingSlash(absolutePath(opts.runtimeDir));
  } else if (uid == 0 && !state.stateDirNamed && !socketNamed) {
    r.runtimeDir = "/run/tailnetd";
  } else {
    std::string hash = shortPathHash(realStateDir);
    if (uid == 0) {
      r.runtimeDir = "/run/tailnetd-" + hash;
    } else if (auto xdg = env("XDG_RUNTIME_DIR"); xdg && !xdg->empty() && (*xdg)[0] == '/') {
      r.runtimeDir = stripTrailingSlash(*xdg) + "/tailnetd-" + hash;
    } else {
      r.runtimeDir = "/tmp/tailnetd-" + std::to_string(uid) + "-" + hash;
    }
  }
  return r;
}

}  // namespace tnet::supervisor
