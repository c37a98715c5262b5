#include "services/ipnd/core/backend.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace tnet::ipnd {
namespace {

using ipn::State;

const std::string KEY = "nodekey:" + std::string(64, 'c');

BackendOptions opts() {
  BackendOptions o;
  o.version = "0.1.0";
  o.osHostname = "testhost";
  o.expectedServices = {"apid", "controld"};
  o.newSessionId = [] { return std::string("0123456789abcdef"); };
  return o;
}

LocalApiRequest req(std::string method, std::string name, std::string body = "", bool privileged = true) {
  LocalApiRequest r;
  r.method = std::move(method);
  r.path = "/localapi/v0/" + name;
  r.body = std::move(body);
  r.callerPrivileged = privileged;
  return r;
}

bool anyNotifyContains(const std::vector<NotifyEvent>& ns, const std::string& s) {
  for (const auto& n : ns) {
    if (n.json.find(s) != std::string::npos) return true;
  }
  return false;
}

TEST(Backend, FreshNodeBootsIntoNeedsLogin) {
  Backend b(opts());
  b.loadPrefs(PrefsFile{});
  b.startAtBoot();
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  auto ns = b.takeNotifies();
  ASSERT_EQ(ns.size(), 2u);
  EXPECT_NE(ns[0].json.find("\"Prefs\":{"), std::string::npos);
  EXPECT_NE(ns[1].json.find("\"State\":2"), std::string::npos);
  EXPECT_EQ(ns[1].seq, 2u);
  auto sc = b.takeStateChange();
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->state, State::NEEDS_LOGIN);
  EXPECT_FALSE(b.haveNodeKey());
  auto st = b.status(true);
  EXPECT_EQ(st.backendState, "NeedsLogin");
  EXPECT_EQ(st.self->hostName, "testhost");
  ASSERT_EQ(st.health.size(), 2u) << "both expected services missing";
}

TEST(Backend, DownOnANodeThatNeverLoggedInStaysNeedsLogin) {
  Backend b(opts());
  b.startAtBoot();
  auto r = b.handleLocalApi(req("PATCH", "prefs", R"({"WantRunning":true,"WantRunningSet":true})"), 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  auto ctl = b.takeControlRequests();
  ASSERT_EQ(ctl.size(), 2u);
  EXPECT_EQ(ctl[1].kind, ControlRequest::Kind::LOGIN) << "WantRunning false→true logs in";
  r = b.handleLocalApi(req("PATCH", "prefs", R"({"WantRunning":false,"WantRunningSet":true})"), 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(b.prefs().wantRunning);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN) << "Go: Stopped needs a node key";
}

TEST(Backend, StartWithAuthKeyKeepsNeedsLoginAndNeverPersistsTheKey) {
  Backend b(opts());
  b.startAtBoot();
  b.takeNotifies();
  b.takeControlRequests();
  auto r = b.handleLocalApi(
      req("POST", "start",
          R"({"UpdatePrefs":{"WantRunning":true,"CorpDNS":true},"AuthKey":"tskey-auth-SECRET"})"),
      0);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  auto ctl = b.takeControlRequests();
  ASSERT_FALSE(ctl.empty());
  EXPECT_EQ(ctl[0].kind, ControlRequest::Kind::START);
  EXPECT_EQ(ctl[0].authKey, "tskey-auth-SECRET");
  EXPECT_TRUE(b.takePrefsDirty());
  EXPECT_EQ(encodePrefsFile(b.prefsFile()).find("SECRET"), std::string::npos);
  EXPECT_FALSE(anyNotifyContains(b.takeNotifies(), "SECRET"));
  r = b.handleLocalApi(req("POST", "login-interactive"), 1000);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  ctl = b.takeControlRequests();
  ASSERT_EQ(ctl.size(), 1u);
  EXPECT_EQ(ctl[0].kind, ControlRequest::Kind::LOGIN_INTERACTIVE);
}

TEST(Backend, FullLoginToRunningThenDownUpAndLogout) {
  Backend b(opts());
  b.startAtBoot();
  ASSERT_EQ(b.handleLocalApi(req("POST", "login-interactive"), 0).status, 204);
  b.takeNotifies();
  b.onAuthUrl("https://login.tailscale.com/a/abc", 1000);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  EXPECT_EQ(b.authUrl(), "https://login.tailscale.com/a/abc");
  EXPECT_TRUE(anyNotifyContains(b.takeNotifies(), R"("BrowseToURL":"https://login.tailscale.com/a/abc")"));
  // The same URL again (login-interactive within its lifetime) is re-sent.
  ASSERT_EQ(b.handleLocalApi(req("POST", "login-interactive"), 2000).status, 204);
  EXPECT_TRUE(anyNotifyContains(b.takeNotifies(), "BrowseToURL\":\"https"));

  b.onLoginSucceeded(KEY);
  auto ns = b.takeNotifies();
  EXPECT_TRUE(anyNotifyContains(ns, R"("LoginFinished":{})"));
  EXPECT_TRUE(b.prefs().wantRunning) << "finishing an auth URL login sets WantRunning";
  EXPECT_TRUE(b.haveNodeKey());
  EXPECT_EQ(b.prefsFile().nodePublicKey, KEY);
  EXPECT_TRUE(b.authUrl().empty());

  NetmapFacts nm;
  nm.tailscaleIps = {"100.64.0.1", "fd7a:115c:a1e0::1"};
  b.onNetmap(nm);
  EXPECT_EQ(b.state(), State::NEEDS_MACHINE_AUTH);
  nm.machineAuthorized = true;
  b.onNetmap(nm);
  EXPECT_EQ(b.state(), State::STARTING);
  b.onEngineStatus(0, 0);
  EXPECT_EQ(b.state(), State::STARTING);
  b.onEngineStatus(0, 1);
  EXPECT_EQ(b.state(), State::RUNNING);
  auto st = b.status(true);
  EXPECT_TRUE(st.haveNodeKey);
  ASSERT_TRUE(st.tailscaleIps);
  EXPECT_EQ(st.self->publicKey, KEY);

  b.handleLocalApi(req("PATCH", "prefs", R"({"WantRunning":false,"WantRunningSet":true})"), 0);
  EXPECT_EQ(b.state(), State::STOPPED);
  b.onEngineStatus(0, 0);  // stopping closed the DERP connections
  b.handleLocalApi(req("PATCH", "prefs", R"({"WantRunning":true,"WantRunningSet":true})"), 0);
  EXPECT_EQ(b.state(), State::STARTING);
  b.onEngineStatus(1, 1);
  EXPECT_EQ(b.state(), State::RUNNING);

  b.takeNotifies();
  EXPECT_EQ(b.handleLocalApi(req("POST", "logout"), 0).status, 204);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  EXPECT_FALSE(b.haveNodeKey());
  EXPECT_TRUE(b.prefs().loggedOut);
  EXPECT_FALSE(b.prefs().wantRunning);
  EXPECT_FALSE(b.prefsFile().nodePublicKey);
  ns = b.takeNotifies();
  EXPECT_TRUE(anyNotifyContains(ns, "\"State\":2"));
  ASSERT_FALSE(ns.empty());
  EXPECT_NE(ns.back().json.find("\"Config\":null"), std::string::npos) << "login gone from prefs";
  EXPECT_EQ(b.handleLocalApi(req("POST", "logout"), 0).status, 204) << "already logged out";
}

TEST(Backend, BrowseToUrlFilterAsGo) {
  Backend b(opts());
  b.startAtBoot();
  b.takeNotifies();
  b.onAuthUrl("http://login.tailscale.com/a/1", 0);
  EXPECT_FALSE(anyNotifyContains(b.takeNotifies(), "BrowseToURL\":\""));
  b.onAuthUrl("https://evil.example/a/1", 0);
  EXPECT_FALSE(anyNotifyContains(b.takeNotifies(), "BrowseToURL\":\""));
  b.onAuthUrl("https://login.tailscale.com/a/2", 0);
  EXPECT_TRUE(anyNotifyContains(b.takeNotifies(), "BrowseToURL\":\""));
}

TEST(Backend, ExpiredKeyBlocksStoppedUntilNewLogin) {
  Backend b(opts());
  PrefsFile f;
  f.prefs.wantRunning = true;
  f.nodePublicKey = KEY;
  b.loadPrefs(f);
  b.startAtBoot();
  EXPECT_EQ(b.state(), State::NO_STATE) << "login in progress with a key: Go's \"Loading\"";
  NetmapFacts nm;
  nm.machineAuthorized = true;
  nm.keyExpired = true;
  b.onNetmap(nm);
  EXPECT_EQ(b.state(), State::NEEDS_LOGIN);
  b.handleLocalApi(req("PATCH", "prefs", R"({"WantRunning":false,"WantRunningSet":true})"), 0);
  EXPECT_EQ(b.state(), State::STOPPED) << "with a netmap, !WantRunning → Stopped";
}

TEST(Backend, ConfigMergesOverPrefsHoldsAuthKeyInMemoryAndLocks) {
  Backend b(opts());
  PrefsFile f;
  f.prefs.hostname = "old";
  b.loadPrefs(f);
  auto c = ipn::parseConfigVAlpha(
      R"({"version":"alpha0","Hostname":"new","AuthKey":"tskey-CONF","ServerURL":"http://127.0.0.1:9"})");
  ASSERT_TRUE(c);
  ASSERT_TRUE(b.applyConfig(*c));
  EXPECT_EQ(b.prefs().hostname, "new");
  EXPECT_TRUE(b.prefs().wantRunning);
  EXPECT_TRUE(b.takePrefsDirty());
  EXPECT_EQ(encodePrefsFile(b.prefsFile()).find("tskey-CONF"), std::string::npos);
  b.startAtBoot();
  auto ctl = b.takeControlRequests();
  ASSERT_EQ(ctl.size(), 2u);
  EXPECT_EQ(ctl[0].authKey, "tskey-CONF");
  EXPECT_EQ(ctl[0].controlUrl, "http://127.0.0.1:9");
  EXPECT_EQ(ctl[1].kind, ControlRequest::Kind::LOGIN) << "config WantRunning logs in";
  EXPECT_EQ(b.state(), State::NO_STATE);
  auto r = b.handleLocalApi(req("PATCH", "prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})"), 0);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"Error\":\"can't reconfigure tailscaled when using a config file; config file is locked\"}\n");

  auto fileKey = ipn::parseConfigVAlpha(R"({"version":"alpha0","AuthKey":"file:/k"})");
  Backend b2(opts());
  EXPECT_FALSE(b2.applyConfig(*fileKey));
}

TEST(Backend, UnhealthyStoreIsNoStateAndRefusesStart) {
  Backend b(opts());
  b.setStoreUnhealthy("cannot rename corrupt prefs.json: Permission denied");
  b.startAtBoot();
  EXPECT_EQ(b.state(), State::NO_STATE);
  auto r = b.handleLocalApi(req("POST", "start", "{}"), 0);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "cannot start backend when state store is unhealthy\n");
  EXPECT_EQ(b.status(true).health[0].rfind("state store unhealthy: ", 0), 0u);
}

TEST(Backend, HealthChangesAreNotifiedOnce) {
  Backend b(opts());
  b.startAtBoot();
  b.takeNotifies();
  ServiceHealth h;
  h.service = "apid";
  h.state = "ok";
  b.updateServiceHealth(h);
  auto ns = b.takeNotifies();
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_NE(ns[0].json.find(R"("Health":{"Warnings":{"tailnetd-controld")"), std::string::npos) << ns[0].json;
  EXPECT_EQ(ns[0].json.find("tailnetd-apid"), std::string::npos);
  h.epoch = 2;  // same health, new epoch: nothing to tell
  b.updateServiceHealth(h);
  EXPECT_TRUE(b.takeNotifies().empty());
  h.state = "degraded";
  h.message = "listener lost";
  b.updateServiceHealth(h);
  ns = b.takeNotifies();
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_NE(ns[0].json.find("degraded: listener lost"), std::string::npos);
  EXPECT_EQ(b.status(true).health.size(), 2u);
}

TEST(Backend, ARestartIsAWarningUntilItAgesOut) {
  Backend b(opts());
  int64_t now = 1'790'000'000'000;
  b.setHealthClock([&] { return now; });
  b.startAtBoot();
  ServiceHealth h;
  h.service = "apid";
  h.state = "ok";
  b.updateServiceHealth(h);
  b.takeNotifies();
  h.restarts = 1;
  h.lastExit = "signal 11 (Segmentation fault)";
  h.lastExitUnixMs = now;
  b.updateServiceHealth(h);
  auto ns = b.takeNotifies();
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_NE(ns[0].json.find(R"("tailnetd-apid-restarted":{)"), std::string::npos) << ns[0].json;
  EXPECT_NE(ns[0].json.find("restarted 14:13:20 UTC after signal 11 (Segmentation fault) (restart 1)"),
            std::string::npos)
      << ns[0].json;
  auto health = b.status(true).health;
  EXPECT_NE(std::find(health.begin(), health.end(),
                      "apid: restarted 14:13:20 UTC after signal 11 (Segmentation fault) (restart 1)"),
            health.end());
  b.expireHealthNotes();
  EXPECT_TRUE(b.takeNotifies().empty());  // still live: nothing changed
  now += RESTART_NOTE_MS;
  b.expireHealthNotes();
  ns = b.takeNotifies();
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].json.find("tailnetd-apid-restarted"), std::string::npos) << ns[0].json;
  health = b.status(true).health;
  for (const auto& l : health) EXPECT_EQ(l.find("restarted"), std::string::npos) << l;
}

}  // namespace
}  // namespace tnet::ipnd
