// `tnet` end to end against the real suite: `bin/tailnetd --statedir <tmp>` with every service,
// no control server (the harness points TS_CONTROL_URL at a closed loopback port).
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "tests/integration/harness/harness.h"

namespace tnet {
namespace {

using namespace tnet::harness;
using Clock = std::chrono::steady_clock;

class TnetE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto missing = missingBinaries(suiteBinaries(true));
    if (!missing.empty()) GTEST_SKIP() << missing;
    tmp_ = std::make_unique<TempDir>("tnet-cli", 0755);
    // As root the suite runs as nobody (non-root mode, no service users needed); tnet stays
    // root, which the LocalAPI treats as privileged.
    unprivileged_ = geteuid() == 0;
    std::vector<std::string> names = suiteBinaries(false);
    auto dir = unprivileged_ ? binariesReachableBy(nobodyUid(), nogroupGid(), names, *tmp_ / "bin")
                             : Result<std::string>(binDir());
    ASSERT_TRUE(dir) << dir.error().message;
    std::string home = *tmp_ / "home";
    mkdir(home.c_str(), 0755);
    SuiteOptions o;
    o.stateDir = home + "/state";
    o.runtimeDir = home + "/run";
    o.binDir = *dir;
    o.env = {{"TAILNETD_SECCOMP", "log"}};
    if (unprivileged_) {
      ASSERT_EQ(chown(home.c_str(), nobodyUid(), nogroupGid()), 0);
      o.wrapper = asNobody();
    }
    suite_ = std::make_unique<Suite>(o);
    auto started = suite_->start();
    ASSERT_TRUE(started) << started.error().message;
    auto ready = suite_->waitReady(20s);
    ASSERT_TRUE(ready) << ready.error().message << "\n" << suite_->stderrText();
  }

  void TearDown() override {
    if (HasFailure() && suite_) std::cerr << "--- suite stderr ---\n" << suite_->stderrText();
  }

  ProcessResult tnet(const std::vector<std::string>& args, RunOptions opts = {}) {
    return runTnet(suite_->socket(), args, opts);
  }

  nlohmann::json prefs() {
    auto r = suite_->get("/localapi/v0/prefs");
    EXPECT_TRUE(r);
    return r ? r->json() : nlohmann::json();
  }

  std::string backendState() {
    auto r = tnet({"status", "--json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("BackendState", "") : "";
  }

  std::unique_ptr<TempDir> tmp_;
  std::unique_ptr<Suite> suite_;
  bool unprivileged_ = false;
};

TEST_F(TnetE2E, StatusJsonShowsNeedsLogin) {
  auto r = tnet({"status", "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["BackendState"], "NeedsLogin");

  // The human form: Go's text for a logged-out node, exit 1.
  auto text = tnet({"status"});
  EXPECT_EQ(text.exitCode, 1);
  EXPECT_EQ(text.out.rfind("Logged out.\n", 0), 0u) << text.out;

  auto noPeers = tnet({"status", "--json", "--peers=false"});
  EXPECT_EQ(noPeers.exitCode, 0) << noPeers.err;
  EXPECT_TRUE(nlohmann::json::parse(noPeers.out, nullptr, false).is_object());
}

TEST_F(TnetE2E, SocketFoundFromStateDirEnvironment) {
  ProcessResult r =
      runProcess({binDir() + "/tnet", "status", "--json"},
                 RunOptions{.env = {{"TAILNETD_STATE_DIR", suite_->stateDir()}, {"TAILNETD_SOCKET", ""}}});
  if (suite_->socket() != suite_->stateDir() + "/tailnetd.sock") GTEST_SKIP() << "suite socket elsewhere";
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("\"BackendState\""), std::string::npos);
}

TEST_F(TnetE2E, SetHostnameShowsInPrefs) {
  auto r = tnet({"set", "--hostname", "h"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(prefs()["Hostname"], "h");
  // set never changes WantRunning.
  EXPECT_EQ(prefs()["WantRunning"], false);

  r = tnet({"set", "--shields-up", "--accept-routes=true"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto p = prefs();
  EXPECT_EQ(p["ShieldsUp"], true);
  EXPECT_EQ(p["RouteAll"], true);
  EXPECT_EQ(p["Hostname"], "h");  // untouched by a set that does not name it

  r = tnet({"set", "--shields-up=false"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(prefs()["ShieldsUp"], false);
}

TEST_F(TnetE2E, SetRejectsBadRoutesBeforeTalkingToTheDaemon) {
  auto r = tnet({"set", "--advertise-routes=10.0.0.1/8"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, "10.0.0.1/8 has non-address bits set; expected 10.0.0.0/8\n");
  EXPECT_TRUE(prefs()["AdvertiseRoutes"].is_null() || prefs()["AdvertiseRoutes"].empty());
}

TEST_F(TnetE2E, UpTimesOutWithoutControlServer) {
  auto start = Clock::now();
  auto r = tnet({"up", "--timeout", "5s"}, RunOptions{.timeout = 40s});
  auto elapsed = Clock::now() - start;
  EXPECT_NE(r.exitCode, 0);
  EXPECT_FALSE(r.timedOut);
  EXPECT_NE(r.err.find("timeout waiting for tailnetd to enter a Running state after 5s"), std::string::npos)
      << r.err;
  EXPECT_GE(elapsed, 5s);
  EXPECT_LT(elapsed, scaled(10s));
  EXPECT_EQ(backendState(), "NeedsLogin");
  // up asked for the network: WantRunning is now set, and stays until `down`.
  EXPECT_EQ(prefs()["WantRunning"], true);
}

TEST_F(TnetE2E, DownClearsWantRunning) {
  auto r = tnet({"up", "--timeout", "1s", "--hostname", "web"}, RunOptions{.timeout = 30s});
  EXPECT_NE(r.exitCode, 0);
  ASSERT_EQ(prefs()["WantRunning"], true) << r.err;
  EXPECT_EQ(prefs()["Hostname"], "web");

  r = tnet({"down"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(prefs()["WantRunning"], false);
  EXPECT_EQ(prefs()["Hostname"], "web");
}

TEST_F(TnetE2E, UpRejectsBadInputWithGoMessages) {
  auto r = tnet({"up", "--hostname", "not_valid"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err, "\"not_valid\" is not a valid DNS label: contains invalid character '_'\n");
  r = tnet({"up", "--auth-key", "file:/nonexistent/tnet-key"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("open /nonexistent/tnet-key: No such file or directory"), std::string::npos) << r.err;
  EXPECT_EQ(prefs()["WantRunning"], false);  // nothing was started
}

TEST_F(TnetE2E, OtherUsersAreDeniedWrites) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run tnet as another uid";
  passwd* pw = getpwnam("daemon");
  if (pw == nullptr) GTEST_SKIP() << "no 'daemon' user";
  auto dir = binariesReachableBy(pw->pw_uid, pw->pw_gid, {"tnet"}, *tmp_ / "bin-daemon");
  ASSERT_TRUE(dir) << dir.error().message;
  ProcessResult r = runProcess({*dir + "/tnet", "--socket", suite_->socket(), "set", "--hostname", "x"},
                               RunOptions{.uid = pw->pw_uid, .gid = pw->pw_gid});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.err.rfind("Access denied: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("Use 'sudo tnet --socket"), std::string::npos) << r.err;
  EXPECT_NE(prefs()["Hostname"], "x");
  // Reading is allowed.
  r = runProcess({*dir + "/tnet", "--socket", suite_->socket(), "status", "--json"},
                 RunOptions{.uid = pw->pw_uid, .gid = pw->pw_gid});
  EXPECT_EQ(r.exitCode, 0) << r.err;

  // Go's remedy from the hint: make that user the operator, and its writes succeed.
  r = tnet({"set", std::string("--operator=") + pw->pw_name});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runProcess({*dir + "/tnet", "--socket", suite_->socket(), "set", "--hostname", "x"},
                 RunOptions{.uid = pw->pw_uid, .gid = pw->pw_gid});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(prefs()["Hostname"], "x");
}

TEST_F(TnetE2E, DebugIsolationReportsEveryService) {
  auto r = tnet({"debug", "isolation"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  for (const char* svc : {"ipnd", "apid", "controld", "wgd", "magicsockd", "netstackd"}) {
    EXPECT_NE(r.out.find(std::string("\n") + svc + " "), std::string::npos) << svc << "\n" << r.out;
  }
  // The suite runs under one uid here, whoever runs the test.
  EXPECT_NE(r.out.find("single uid: no privilege separation"), std::string::npos) << r.out;
}

TEST_F(TnetE2E, VersionDaemon) {
  auto r = tnet({"version", "--daemon"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Client: "), std::string::npos);
  EXPECT_NE(r.out.find("Daemon: "), std::string::npos);
}

}  // namespace
}  // namespace tnet
