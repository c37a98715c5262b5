#include <gtest/gtest.h>

#include "libs/ipn/notify.h"
#include "libs/ipn/options.h"
#include "libs/ipn/state.h"
#include "libs/ipn/status.h"

namespace tnet::ipn {
namespace {

TEST(State, NamesAndNumbersAreGos) {
  const char* names[] = {"NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
                         "Stopped", "Starting",       "Running"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(stateName(State(i)), names[i]);
    EXPECT_EQ(stateFromName(names[i]), State(i));
  }
  EXPECT_EQ(int(State::NEEDS_LOGIN), 2);
  EXPECT_EQ(int(State::RUNNING), 6);
  EXPECT_FALSE(stateFromName("running"));
}

TEST(Notify, AlwaysPresentFieldsAreNullAndStateIsAnInteger) {
  Notify n;
  n.version = "0.1.0";
  n.state = State::NEEDS_LOGIN;
  EXPECT_EQ(notifyToString(n),
            R"({"Version":"0.1.0","ErrMessage":null,"LoginFinished":null,"State":2,"Prefs":null,)"
            R"("NetMap":null,"Engine":null,"BrowseToURL":null,"DriveShares":null})");
  n.loginFinished = true;
  n.sessionId = "abc";
  n.browseToUrl = "https://login.example/a?b&c";
  std::string s = notifyToString(n);
  EXPECT_NE(s.find(R"("SessionID":"abc","ErrMessage")"), std::string::npos) << s;
  EXPECT_NE(s.find(R"("LoginFinished":{})"), std::string::npos);
  EXPECT_NE(s.find(R"(a?b\u0026c)"), std::string::npos);
}

TEST(Notify, HealthWarningsSortedByCode) {
  Notify n;
  n.version = "v";
  n.health =
      std::vector<HealthWarning>{{"z-code", "low", "Z", "zz", false}, {"a-code", "high", "A", "aa", true}};
  std::string s = notifyToString(n);
  EXPECT_LT(s.find("a-code"), s.find("z-code"));
  EXPECT_NE(s.find(R"("ImpactsConnectivity":true)"), std::string::npos);
}

TEST(Notify, WatchMaskRules) {
  EXPECT_EQ(*parseWatchMask(""), 0u);
  EXPECT_EQ(*parseWatchMask("6"), 6u);
  EXPECT_FALSE(parseWatchMask("-1"));
  EXPECT_FALSE(parseWatchMask("0x10"));
  EXPECT_FALSE(parseWatchMask("99999999999999999999999"));
  EXPECT_EQ(parseWatchMask("65536").error().message,
            "NotifyInProcessNoDisconnect is only valid for in-process IPN bus subscribers");
  EXPECT_FALSE(parseWatchMask(std::to_string(NOTIFY_RATE_LIMIT | NOTIFY_PEER_CHANGES)));
  EXPECT_TRUE(parseWatchMask(std::to_string(NOTIFY_RATE_LIMIT | NOTIFY_INITIAL_STATE)));
}

TEST(Status, FreshNodeShape) {
  Status s;
  s.version = "0.1.0";
  s.backendState = "NeedsLogin";
  PeerStatus self;
  self.hostName = "h";
  self.os = "linux";
  s.self = self;
  std::string body = statusToLocalApiBody(s);
  EXPECT_EQ(body.back(), '\n');
  EXPECT_EQ(body.find("HaveNodeKey"), std::string::npos) << "omitempty";
  EXPECT_NE(body.find("\t\"BackendState\": \"NeedsLogin\""), std::string::npos);
  EXPECT_NE(body.find("\t\"Health\": [],"), std::string::npos);
  EXPECT_NE(body.find("\t\"Peer\": null"), std::string::npos);
  EXPECT_NE(body.find("\"PublicKey\": \"nodekey:0000"), std::string::npos);
  EXPECT_NE(body.find("\"Created\": \"0001-01-01T00:00:00Z\""), std::string::npos);
  // Go's field order.
  const char* order[] = {"\"Version\"",        "\"TUN\"",          "\"BackendState\"", "\"AuthURL\"",
                         "\"TailscaleIPs\"",   "\"Self\"",         "\"Health\"",       "\"MagicDNSSuffix\"",
                         "\"CurrentTailnet\"", "\"CertDomains\"",  "\"ExtraRecords\"", "\"Peer\"",
                         "\"User\"",           "\"ClientVersion\""};
  size_t last = 0;
  for (const char* k : order) {
    size_t at = body.find(std::string("\n\t") + k);
    ASSERT_NE(at, std::string::npos) << k;
    EXPECT_GT(at, last) << k;
    last = at;
  }
}

TEST(Status, PeersKeyedByNodeKeyAndUsersByDecimalId) {
  Status s;
  s.haveNodeKey = true;
  PeerStatus peer;
  peer.publicKey = "nodekey:" + std::string(64, 'a');
  s.peer = std::map<std::string, PeerStatus>{{peer.publicKey, peer}};
  s.user = std::map<int64_t, UserProfile>{{9, {}}, {10, {}}};
  std::string j = goMarshal(statusToJson(s));
  EXPECT_NE(j.find(R"("HaveNodeKey":true)"), std::string::npos);
  EXPECT_NE(j.find(R"("Peer":{"nodekey:aaaa)"), std::string::npos);
  EXPECT_LT(j.find(R"("10":)"), j.find(R"("9":)")) << "Go sorts map keys as strings";
}

TEST(Options, StartBody) {
  auto o = parseOptions(R"({"FrontendLogID":"fe","UpdatePrefs":{"WantRunning":true},"AuthKey":"tskey-1"})");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->authKey, "tskey-1");
  ASSERT_TRUE(o->updatePrefs);
  EXPECT_TRUE(o->updatePrefs->wantRunning);
  EXPECT_FALSE(o->updatePrefs->corpDns) << "UpdatePrefs decodes into a zero Prefs, as Go";
  o = parseOptions(R"({"UpdatePrefs":null})");
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->updatePrefs);
  EXPECT_FALSE(parseOptions(R"({"AuthKey":7})"));
  EXPECT_FALSE(parseOptions(""));
}

}  // namespace
}  // namespace tnet::ipn
