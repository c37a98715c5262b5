#include "supervisor/options.h"

#include <gtest/gtest.h>

#include <map>

namespace tnet::supervisor {
namespace {

EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Options, StateDirDefaults) {
  Options o;
  EXPECT_EQ(resolveStateDir(o, 0, fakeEnv({}))->stateDir, "/var/lib/tailnetd");
  EXPECT_EQ(
      resolveStateDir(o, 1000, fakeEnv({{"XDG_STATE_HOME", "/x/state"}, {"HOME", "/home/u"}}))->stateDir,
      "/x/state/tailnetd");
  EXPECT_EQ(resolveStateDir(o, 1000, fakeEnv({{"HOME", "/home/u"}}))->stateDir,
            "/home/u/.local/state/tailnetd");
  // A relative XDG_STATE_HOME is invalid per the XDG spec: fall back to HOME.
  EXPECT_EQ(resolveStateDir(o, 1000, fakeEnv({{"XDG_STATE_HOME", "rel"}, {"HOME", "/h"}}))->stateDir,
            "/h/.local/state/tailnetd");
  auto none = resolveStateDir(o, 1000, fakeEnv({}));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("--statedir"), std::string::npos);
  o.stateDir = "/srv/ts/";
  auto named = resolveStateDir(o, 1000, fakeEnv({}));
  EXPECT_EQ(named->stateDir, "/srv/ts");
  EXPECT_TRUE(named->stateDirNamed);
}

TEST(Options, RuntimeAndSocketDefaults) {
  Options o;
  StatePaths rootDefault{"/var/lib/tailnetd", false};
  auto r = resolveRuntimePaths(o, rootDefault, "/var/lib/tailnetd", 0, fakeEnv({}));
  EXPECT_EQ(r.socket, "/run/tailnetd/tailnetd.sock");
  EXPECT_EQ(r.runtimeDir, "/run/tailnetd");

  StatePaths named{"/srv/ts", true};
  std::string hash = shortPathHash("/srv/ts-real");
  ASSERT_EQ(hash.size(), 8u);
  r = resolveRuntimePaths(o, named, "/srv/ts-real", 0, fakeEnv({}));
  EXPECT_EQ(r.socket, "/srv/ts/tailnetd.sock");
  EXPECT_EQ(r.runtimeDir, "/run/tailnetd-" + hash);

  // Root with only --socket: the state dir is the default one, but the runtime dir is hashed.
  o.socket = "/tmp/x.sock";
  r = resolveRuntimePaths(o, rootDefault, "/var/lib/tailnetd", 0, fakeEnv({}));
  EXPECT_EQ(r.socket, "/tmp/x.sock");
  EXPECT_EQ(r.runtimeDir, "/run/tailnetd-" + shortPathHash("/var/lib/tailnetd"));
  o.socket.clear();

  StatePaths user{"/home/u/.local/state/tailnetd", false};
  r = resolveRuntimePaths(o, user, "/home/u/.local/state/tailnetd", 1000,
                          fakeEnv({{"XDG_RUNTIME_DIR", "/run/user/1000"}}));
  EXPECT_EQ(r.socket, "/home/u/.local/state/tailnetd/tailnetd.sock");
  EXPECT_EQ(r.runtimeDir, "/run/user/1000/tailnetd-" + shortPathHash("/home/u/.local/state/tailnetd"));
  r = resolveRuntimePaths(o, user, "/home/u/.local/state/tailnetd", 1000, fakeEnv({}));
  EXPECT_EQ(r.runtimeDir, "/tmp/tailnetd-1000-" + shortPathHash("/home/u/.local/state/tailnetd"));

  o.runtimeDir = "/r/";
  r = resolveRuntimePaths(o, user, "/x", 1000, fakeEnv({}));
  EXPECT_EQ(r.runtimeDir, "/r");
}

TEST(Options, ShortHashIsSha256Prefix) {
  // SHA-256("abc") = ba7816bf...
  EXPECT_EQ(shortPathHash("abc"), "ba7816bf");
}

TEST(Options, ParsesFlagsAndEnvironment) {
  setenv("TAILNETD_STATE_DIR", "/from/env", 1);
  setenv("TAILNETD_LOG", "2", 1);
  const char* argv[] = {"tailnetd",   "--port", "41641",           "--external",    "wgd",
                        "--external", "apid",   "--socks5-server", "localhost:1080"};
  auto p = parseOptions(9, argv);
  ASSERT_TRUE(p.options);
  EXPECT_EQ(p.options->stateDir, "/from/env");
  EXPECT_EQ(p.options->verbose, 2);
  EXPECT_EQ(*p.options->port, 41641);
  EXPECT_EQ(p.options->external, (std::vector<std::string>{"wgd", "apid"}));
  EXPECT_EQ(p.options->socks5Server, "localhost:1080");

  const char* argv2[] = {"tailnetd", "--statedir", "/from/flag", "--verbose", "0"};
  p = parseOptions(5, argv2);
  ASSERT_TRUE(p.options);
  EXPECT_EQ(p.options->stateDir, "/from/flag");  // the flag wins over the environment
  EXPECT_EQ(p.options->verbose, 0);
  unsetenv("TAILNETD_STATE_DIR");
  unsetenv("TAILNETD_LOG");
}

TEST(Options, BadFlagsFail) {
  const char* unknown[] = {"tailnetd", "--no-such-flag"};
  auto p = parseOptions(2, unknown);
  EXPECT_FALSE(p.options);
  EXPECT_NE(p.exitCode, 0);
  const char* badVerbose[] = {"tailnetd", "--verbose", "7"};
  EXPECT_NE(parseOptions(3, badVerbose).exitCode, 0);
  const char* badExternal[] = {"tailnetd", "--external", "sshd"};
  EXPECT_NE(parseOptions(3, badExternal).exitCode, 0);
  const char* badPort[] = {"tailnetd", "--port", "70000"};
  EXPECT_NE(parseOptions(3, badPort).exitCode, 0);
}

}  // namespace
}  // namespace tnet::supervisor
