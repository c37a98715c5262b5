// Runs the real bin/tnet: the messages and exit codes an operator sees without a daemon.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct RunResult {
  int exitCode = -1;
  std::string output;  // stdout and stderr together
};

// <TNET_BINARY_DIR>/bin/tnet, else beside this test binary (every executable lands in bin/).
std::string tnetPath() {
  if (const char* dir = std::getenv("TNET_BINARY_DIR"); dir != nullptr && *dir != '\0') {
    return std::string(dir) + "/bin/tnet";
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "tnet";
  std::string exe(self, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/')) + "/tnet";
}

RunResult runTnet(const std::string& args, const std::string& env = "") {
  std::string cmd =
      "env -u TAILNETD_SOCKET -u TAILNETD_STATE_DIR " + env + " " + tnetPath() + " " + args + " 2>&1";
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class TnetBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system(("test -x " + tnetPath()).c_str()) != 0) GTEST_SKIP() << tnetPath() << " not built";
  }
};

TEST_F(TnetBinary, MissingDaemonIsOneLine) {
  const std::string sock = "/tmp/tnet-test-nonexistent-dir/tailnetd.sock";
  for (const char* verb :
       {"status", "up", "down", "set --hostname x", "status --json", "debug isolation", "version --daemon"}) {
    RunResult r = runTnet(std::string("--socket ") + sock + " " + verb);
    EXPECT_EQ(r.exitCode, 1) << verb;
    EXPECT_EQ(r.output, "tnet: cannot reach tailnetd at " + sock + ": is it running?\n") << verb;
  }
}

TEST_F(TnetBinary, SocketFromEnvironment) {
  RunResult r = runTnet("status", "TAILNETD_SOCKET=/tmp/tnet-test-nonexistent-env.sock");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.output, "tnet: cannot reach tailnetd at /tmp/tnet-test-nonexistent-env.sock: is it running?\n");
  r = runTnet("status", "TAILNETD_STATE_DIR=/tmp/tnet-test-nonexistent-state");
  EXPECT_EQ(r.output,
            "tnet: cannot reach tailnetd at /tmp/tnet-test-nonexistent-state/tailnetd.sock: is it "
            "running?\n");
  // The flag wins over the environment, and may follow the verb too.
  r = runTnet("status --socket /tmp/tnet-flag.sock", "TAILNETD_SOCKET=/tmp/tnet-env.sock");
  EXPECT_EQ(r.output, "tnet: cannot reach tailnetd at /tmp/tnet-flag.sock: is it running?\n");
}

TEST_F(TnetBinary, UserStateDirDefault) {
  if (std::system("test -e /run/tailnetd/tailnetd.sock") == 0)
    GTEST_SKIP() << "a system tailnetd socket exists";
  RunResult r = runTnet("status", "HOME=/tmp/tnet-test-home XDG_STATE_HOME=");
  if (getuid() == 0) {
    EXPECT_EQ(r.output, "tnet: cannot reach tailnetd at /run/tailnetd/tailnetd.sock: is it running?\n");
  } else {
    EXPECT_EQ(r.output,
              "tnet: cannot reach tailnetd at /tmp/tnet-test-home/.local/state/tailnetd/tailnetd.sock: is it "
              "running?\n");
  }
}

TEST_F(TnetBinary, BadFlagsExitTwoWithUsage) {
  RunResult r = runTnet("status --no-such-flag");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--no-such-flag"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Usage"), std::string::npos) << r.output;

  r = runTnet("up --timeout 5parsecs --socket /nonexistent.sock");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("invalid value \"5parsecs\" for flag --timeout"), std::string::npos) << r.output;

  r = runTnet("frobnicate");
  EXPECT_EQ(r.exitCode, 2);
  r = runTnet("");
  EXPECT_EQ(r.exitCode, 2);
}

TEST_F(TnetBinary, GoSpellingsParse) {
  // Parsed fine, so the failure is reaching the (absent) daemon, not the command line.
  for (const char* args :
       {"set --advertise-routes=", "set -hostname=x", "up -authkey=k --timeout=1m30s", "set --exit-node="}) {
    RunResult r = runTnet(std::string("--socket /nonexistent.sock ") + args);
    EXPECT_EQ(r.exitCode, 1) << args << ": " << r.output;
    EXPECT_EQ(r.output, "tnet: cannot reach tailnetd at /nonexistent.sock: is it running?\n") << args;
  }
}

TEST_F(TnetBinary, HelpExitsZero) {
  RunResult r = runTnet("--help");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.output.find("status"), std::string::npos);
  r = runTnet("up --help");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.output.find("--auth-key"), std::string::npos);
  EXPECT_NE(r.output.find("--timeout"), std::string::npos);
}

TEST_F(TnetBinary, VersionNeedsNoDaemon) {
  RunResult r = runTnet("version --socket /nonexistent.sock");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(r.output.rfind(TNET_VERSION "\n", 0), 0u) << r.output;
  r = runTnet("version --json");
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.output.find("\t\"majorMinorPatch\": \"" TNET_VERSION "\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\t\"short\": "), std::string::npos);
  EXPECT_NE(r.output.find("\t\"long\": "), std::string::npos);
  EXPECT_NE(r.output.find("\t\"cap\": 116"), std::string::npos);
  r = runTnet("-V");
  EXPECT_EQ(r.exitCode, 0);
}

}  // namespace
