// The five node-key flows of ARCHITECTURE.md §Keys, driven through the Backend's key steps.
// A small in-test "world" answers each step as wgd and controld would (wgd's one pending key,
// control's register outcome chosen per test), so every flow runs end to end without I/O.
#include <gtest/gtest.h>

#include <deque>

#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {
namespace {

using ipn::State;

std::string nodeKey(int n) {
  std::string hex = std::to_string(n);
  return "nodekey:" + std::string(64 - hex.size(), '0') + hex;
}

LocalApiRequest req(std::string method, std::string name, std::string body = "") {
  LocalApiRequest r;
  r.method = std::move(method);
  r.path = "/localapi/v0/" + name;
  r.body = std::move(body);
  r.callerPrivileged = true;
  return r;
}

// What control answers to controld.login.
enum class Control { REGISTER, AUTH_URL, ERROR, UNREACHABLE };

struct World {
  Backend b{[] {
    BackendOptions o;
    o.version = "0.1.0";
    o.osHostname = "host";
    o.newSessionId = [] { return std::string("0123456789abcdef"); };
    return o;
  }()};
  // wgd
  std::string wgCurrent, wgPending;
  int keysMade = 0;
  // controld
  Control control = Control::REGISTER;
  std::vector<KeyStep> logins, logouts, commits;
  int discards = 0;
  ControlStatusFacts cs{.epoch = 7};
  std::vector<std::string> notifies;

  void pump() {
    for (int guard = 0; guard < 20; ++guard) {
      auto steps = b.takeKeySteps();
      for (auto& n : b.takeNotifies()) notifies.push_back(n.json);
      if (steps.empty()) return;
      for (const auto& s : steps) run(s);
    }
    FAIL() << "key steps never settle";
  }
  void run(const KeyStep& s) {
    switch (s.kind) {
      case KeyStep::Kind::PREPARE_KEY:
        if (wgPending.empty()) wgPending = nodeKey(++keysMade);
        b.onKeyPrepared(s.attempt, wgPending);
        break;
      case KeyStep::Kind::LOGIN: {
        logins.push_back(s);
        LoginResult r;
        switch (control) {
          case Control::REGISTER:
            r.registered = true;
            r.machineAuthorized = true;
            break;
          case Control::AUTH_URL:
            r.authUrl = "https://login.tailscale.com/a/" + std::to_string(logins.size());
            break;
          case Control::ERROR:
            r.error = "invalid key: unable to validate API key";
            break;
          case Control::UNREACHABLE:
            b.onKeyStepFailed(s.attempt, s.kind, "timeout after 30000 ms");
            return;
        }
        b.onLoginReply(s.attempt, r, 1000);
        break;
      }
      case KeyStep::Kind::COMMIT_KEY:
        commits.push_back(s);
        ASSERT_EQ(s.nodePublic, wgPending);
        wgCurrent = wgPending;
        wgPending.clear();
        b.onKeyCommitted(s.attempt, s.nodePublic);
        break;
      case KeyStep::Kind::DISCARD_PENDING:
        ++discards;
        wgPending.clear();
        break;
      case KeyStep::Kind::LOGOUT:
        logouts.push_back(s);
        break;
    }
  }
  // controld publishes that the AuthURL login finished (the follow-up register returned).
  void approve() {
    ASSERT_FALSE(logins.empty());
    cs.loggedInNodePublic = logins.back().nodePublic;
    ++cs.loginFinishedCount;
    b.onControlStatus(cs, 2000);
    pump();
  }
  void netmap(bool expired = false, bool withDerp = true) {
    NetmapFacts nm;
    nm.machineAuthorized = true;
    nm.keyExpired = expired;
    nm.tailscaleIps = {"100.64.0.1", "fd7a:115c:a1e0::1"};
    if (withDerp) nm.derpRegionCodes = {{1, "tst"}};
    b.onNetmap(nm);
    if (withDerp) {  // magicsockd connects to the home region of that DERP map
      DerpFacts d;
      d.homeRegion = 1;
      d.connectedRegions = 1;
      b.onDerp(d);
    }
    pump();
  }
  bool sawNotify(const std::string& s) const {
    for (const auto& n : notifies)
      if (n.find(s) != std::string::npos) return true;
    return false;
  }
  void up(const std::string& authKey) {
    std::string body = R"({"UpdatePrefs":{"WantRunning":true,"CorpDNS":true})";
    if (!authKey.empty()) body += R"(,"AuthKey":")" + authKey + "\"";
    body += "}";
    ASSERT_EQ(b.handleLocalApi(req("POST", "start", body), 0).status, 204);
    pump();
    // Go's `up`: login-interactive when there is no node key or with --force-reauth.
    ASSERT_EQ(b.handleLocalApi(req("POST", "login-interactive"), 0).status, 204);
    pump();
  }
};

TEST(LoginFlow, FirstLoginWithAuthKeyPreparesRegistersCommitsThenRuns) {
  World w;
  w.b.startAtBoot();
  w.pump();
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
  w.up("tskey-auth-SECRET");
  ASSERT_EQ(w.logins.size(), 1u);
  EXPECT_EQ(w.logins[0].nodePublic, nodeKey(1));
  EXPECT_EQ(w.logins[0].oldNodePublic, "");
  EXPECT_EQ(w.logins[0].authKey, "tskey-auth-SECRET");
  EXPECT_FALSE(w.logins[0].interactive) << "an auth key registers without a browser";
  ASSERT_EQ(w.commits.size(), 1u);
  EXPECT_EQ(w.wgCurrent, nodeKey(1));
  EXPECT_TRUE(w.b.haveNodeKey());
  EXPECT_EQ(w.b.prefsFile().nodePublicKey, nodeKey(1));
  EXPECT_TRUE(w.sawNotify(R"("LoginFinished":{})"));
  EXPECT_FALSE(w.sawNotify("SECRET"));
  EXPECT_EQ(encodePrefsFile(w.b.prefsFile()).find("SECRET"), std::string::npos);
  EXPECT_TRUE(w.b.takeConfigDirty()) << "controld must learn the committed key";
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN) << "Go: logged in, NeedsLogin until the first netmap";
  w.netmap();
  EXPECT_EQ(w.b.state(), State::RUNNING) << "the netmap and a live DERP (Go's LiveDERPs > 0)";
  EXPECT_EQ(w.b.status(true).self->publicKey, nodeKey(1));
  // A second login in the same session does not reuse the spent auth key.
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "login-interactive"), 0).status, 204);
  w.control = Control::AUTH_URL;
  w.pump();
  ASSERT_EQ(w.logins.size(), 2u);
  EXPECT_EQ(w.logins[1].authKey, "");
}

TEST(LoginFlow, InteractiveLoginCommitsOnlyWhenControlSaysFinished) {
  World w;
  w.control = Control::AUTH_URL;
  w.b.startAtBoot();
  w.up("");
  ASSERT_EQ(w.logins.size(), 1u);
  EXPECT_TRUE(w.logins[0].interactive);
  EXPECT_TRUE(w.commits.empty()) << "no commit while the user has not visited the URL";
  EXPECT_FALSE(w.b.haveNodeKey());
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
  EXPECT_TRUE(w.sawNotify(R"("BrowseToURL":"https://login.tailscale.com/a/1")"));
  EXPECT_EQ(w.b.status(false).authUrl, "https://login.tailscale.com/a/1");
  // A finished login for some other key (stale) commits nothing.
  w.cs.loggedInNodePublic = nodeKey(99);
  ++w.cs.loginFinishedCount;
  w.b.onControlStatus(w.cs, 1500);
  w.pump();
  EXPECT_TRUE(w.commits.empty());
  w.approve();
  ASSERT_EQ(w.commits.size(), 1u);
  EXPECT_TRUE(w.b.haveNodeKey());
  EXPECT_TRUE(w.sawNotify(R"("LoginFinished":{})"));
  EXPECT_TRUE(w.b.prefs().wantRunning);
  EXPECT_TRUE(w.b.authUrl().empty());
  w.netmap();
  EXPECT_EQ(w.b.state(), State::RUNNING);
}

TEST(LoginFlow, ForceReauthRegistersANewKeyWithTheOldOneAndKeepsPrefs) {
  World w;
  w.b.startAtBoot();
  w.up("tskey-1");
  w.netmap();
  ASSERT_EQ(w.b.state(), State::RUNNING);
  ASSERT_EQ(w.b.handleLocalApi(req("PATCH", "prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})"), 0).status, 200);
  // `up --force-reauth`: start with the unchanged prefs, then login-interactive.
  w.control = Control::AUTH_URL;
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "login-interactive"), 0).status, 204);
  w.pump();
  ASSERT_EQ(w.logins.size(), 2u);
  EXPECT_EQ(w.logins[1].nodePublic, nodeKey(2));
  EXPECT_EQ(w.logins[1].oldNodePublic, nodeKey(1));
  EXPECT_EQ(w.b.prefsFile().nodePublicKey, nodeKey(1)) << "old key stays until the new one is accepted";
  w.approve();
  EXPECT_EQ(w.b.prefsFile().nodePublicKey, nodeKey(2));
  EXPECT_EQ(w.b.status(false).self->publicKey, nodeKey(2));
  EXPECT_TRUE(w.b.prefs().shieldsUp) << "prefs survive a re-auth";
}

TEST(LoginFlow, KeyExpiryNeedsLoginAndTheNextLoginPreparesANewKey) {
  World w;
  w.b.startAtBoot();
  w.up("tskey-1");
  w.netmap();
  ASSERT_EQ(w.b.state(), State::RUNNING);
  w.netmap(/*expired=*/true);
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
  EXPECT_TRUE(w.b.haveNodeKey()) << "HaveNodeKey: control accepted a key, even if it expired";
  // `up` with HaveNodeKey: start only (Go's CLI skips login-interactive); the expired key
  // makes the login prepare a new key.
  w.control = Control::AUTH_URL;
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "start", R"({"UpdatePrefs":{"WantRunning":true}})"), 0).status, 204);
  w.pump();
  ASSERT_EQ(w.logins.size(), 2u);
  EXPECT_EQ(w.logins[1].nodePublic, nodeKey(2));
  EXPECT_EQ(w.logins[1].oldNodePublic, nodeKey(1));
  EXPECT_TRUE(w.sawNotify("BrowseToURL"));
  w.approve();
  EXPECT_EQ(w.b.prefsFile().nodePublicKey, nodeKey(2));
  w.netmap();
  EXPECT_EQ(w.b.state(), State::RUNNING);
}

TEST(LoginFlow, ControlReportedExpiryAlsoMeansNeedsLogin) {
  World w;
  w.b.startAtBoot();
  w.up("tskey-1");
  w.netmap();
  ASSERT_EQ(w.b.state(), State::RUNNING);
  w.cs.nodeKeyExpired = true;
  w.b.onControlStatus(w.cs, 0);  // first status of this epoch: sets the baseline only
  w.b.onControlStatus(w.cs, 0);
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
}

TEST(LoginFlow, LogoutExpiresTheKeyAtControlAndForgetsIt) {
  World w;
  w.b.startAtBoot();
  w.up("tskey-1");
  w.netmap();
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "logout"), 0).status, 204);
  w.pump();
  ASSERT_EQ(w.logouts.size(), 1u);
  EXPECT_EQ(w.logouts[0].nodePublic, nodeKey(1));
  EXPECT_GE(w.discards, 1);
  EXPECT_FALSE(w.b.haveNodeKey());
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
  EXPECT_TRUE(w.b.takeConfigDirty());
  // The next login prepares a fresh key, with no OldNodeKey (the old one is gone).
  w.up("tskey-2");
  ASSERT_EQ(w.logins.size(), 2u);
  EXPECT_EQ(w.logins[1].nodePublic, nodeKey(2));
  EXPECT_EQ(w.logins[1].oldNodePublic, "");
}

TEST(LoginFlow, RestartResumesWithThePersistedKeyWithoutAnyLogin) {
  World w;
  PrefsFile f;
  f.prefs.wantRunning = true;
  f.nodePublicKey = nodeKey(5);
  w.b.loadPrefs(f);
  w.b.startAtBoot();
  w.pump();
  EXPECT_TRUE(w.logins.empty()) << "no prepare, no register: controld.setConfig carries the key";
  EXPECT_TRUE(w.b.takeConfigDirty());
  EXPECT_EQ(w.b.state(), State::NO_STATE);
  w.netmap(false, /*withDerp=*/false);
  EXPECT_EQ(w.b.state(), State::STARTING) << "no DERP configured, nothing live";
  DerpFacts d;
  d.homeRegion = 0;
  d.connectedRegions = 1;
  w.b.onDerp(d);
  EXPECT_EQ(w.b.state(), State::RUNNING) << "Go's rule: a live DERP connection";
}

TEST(LoginFlow, ControlErrorReachesTheUserAndTheKeyIsDiscarded) {
  World w;
  w.control = Control::ERROR;
  w.b.startAtBoot();
  w.up("tskey-bad");
  EXPECT_TRUE(w.sawNotify(R"("ErrMessage":"invalid key: unable to validate API key")"));
  EXPECT_TRUE(w.commits.empty());
  EXPECT_GE(w.discards, 1);
  EXPECT_FALSE(w.b.haveNodeKey());
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
}

TEST(LoginFlow, AbsentControldIsAHealthLineNeverAHang) {
  World w;
  w.control = Control::UNREACHABLE;
  w.b.startAtBoot();
  w.up("tskey-1");
  EXPECT_EQ(w.b.state(), State::NEEDS_LOGIN);
  EXPECT_FALSE(w.sawNotify("ErrMessage\":\"")) << "not control's words: `up` keeps waiting, as Go";
  bool found = false;
  for (const auto& l : w.b.status(false).health) found |= l.find("controld.login: timeout") != std::string::npos;
  EXPECT_TRUE(found);
  // A later successful login clears it.
  w.control = Control::REGISTER;
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "login-interactive"), 0).status, 204);
  w.pump();
  EXPECT_TRUE(w.b.haveNodeKey());
  EXPECT_TRUE(w.b.status(false).health.empty());
}

TEST(LoginFlow, OutcomesOfAnAbandonedAttemptAreIgnored) {
  World w;
  w.b.startAtBoot();
  w.pump();
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "login-interactive"), 0).status, 204);
  auto first = w.b.takeKeySteps();
  ASSERT_EQ(first.size(), 1u);
  // A new start abandons the login; the late answer of the old prepare changes nothing.
  ASSERT_EQ(w.b.handleLocalApi(req("POST", "start", "{}"), 0).status, 204);
  w.b.onKeyPrepared(first[0].attempt, nodeKey(1));
  EXPECT_TRUE(w.b.takeKeySteps().empty());
  LoginResult r;
  r.registered = true;
  w.b.onLoginReply(first[0].attempt, r, 0);
  w.b.onKeyCommitted(first[0].attempt, nodeKey(1));
  EXPECT_FALSE(w.b.haveNodeKey());
}

}  // namespace
}  // namespace tnet::ipnd
