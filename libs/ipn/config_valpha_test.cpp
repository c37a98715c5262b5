#include "libs/ipn/config_valpha.h"

#include <gtest/gtest.h>

namespace tnet::ipn {
namespace {

TEST(ConfigVAlpha, GoodConfigConvertsLikeGoToPrefs) {
  auto c = parseConfigVAlpha(R"({
    // HuJSON comments are fine
    "version": "alpha0",
    "ServerURL": "http://127.0.0.1:8080",
    "AuthKey": "tskey-auth-secret",
    "Hostname": "node1",
    "OperatorUser": "alice",
    "acceptDNS": false,
    "acceptRoutes": true,
    "exitNode": "100.64.0.9",
    "AdvertiseRoutes": ["10.0.0.0/8"],
    "AdvertiseExitNode": true,
    "NetfilterMode": "nodivert",
    "ShieldsUp": true,
    "Locked": false
  })");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->isLocked());
  auto mp = configToMaskedPrefs(*c);
  ASSERT_TRUE(mp) << mp.error().message;
  const Prefs& p = mp->prefs;
  EXPECT_TRUE(mp->isSet("WantRunning"));
  EXPECT_TRUE(p.wantRunning) << "Enabled defaults to true";
  EXPECT_EQ(p.controlUrl, "http://127.0.0.1:8080");
  EXPECT_TRUE(mp->isSet("LoggedOut"));
  EXPECT_FALSE(p.loggedOut);
  EXPECT_EQ(p.hostname, "node1");
  EXPECT_EQ(p.operatorUser, "alice");
  EXPECT_TRUE(mp->isSet("CorpDNS"));
  EXPECT_FALSE(p.corpDns);
  EXPECT_TRUE(p.routeAll);
  EXPECT_TRUE(mp->isSet("ExitNodeIP"));
  EXPECT_FALSE(mp->isSet("ExitNodeID"));
  ASSERT_TRUE(p.advertiseRoutes);
  ASSERT_EQ(p.advertiseRoutes->size(), 3u);
  EXPECT_EQ((*p.advertiseRoutes)[1].toString(), "0.0.0.0/0");
  EXPECT_EQ((*p.advertiseRoutes)[2].toString(), "::/0");
  EXPECT_EQ(p.netfilterMode, NETFILTER_NO_DIVERT);
  EXPECT_TRUE(p.shieldsUp);
  EXPECT_FALSE(mp->isSet("RunSSH"));
  EXPECT_TRUE(mp->isSet("AdvertiseServices")) << "always set, as Go";
  EXPECT_TRUE(mp->isSet("RelayServerPort"));
}

TEST(ConfigVAlpha, MinimalAndDefaults) {
  auto c = parseConfigVAlpha(R"({"Version":"alpha0"})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->isLocked());
  auto mp = configToMaskedPrefs(*c);
  ASSERT_TRUE(mp);
  EXPECT_TRUE(mp->prefs.wantRunning);
  EXPECT_FALSE(mp->isSet("ControlURL"));
  c = parseConfigVAlpha(R"({"version":"alpha0","Enabled":false,"exitNode":"nStable"})");
  ASSERT_TRUE(c);
  mp = configToMaskedPrefs(*c);
  EXPECT_TRUE(mp->isSet("WantRunning"));
  EXPECT_FALSE(mp->prefs.wantRunning);
  EXPECT_EQ(mp->prefs.exitNodeId, "nStable");
}

TEST(ConfigVAlpha, AuthKeyFileForm) {
  auto c = parseConfigVAlpha(R"({"version":"alpha0","AuthKey":"file:/etc/tailnetd/key"})");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->authKeyIsFile());
  EXPECT_FALSE(parseConfigVAlpha(R"({"version":"alpha0","AuthKey":"file:"})"));
}

TEST(ConfigVAlpha, EachKindOfBadInputIsRejectedWithAReason) {
  struct Case {
    const char* json;
    const char* wantInError;
  } cases[] = {
      {"", "invalid JSON"},
      {"[]", "cannot unmarshal array"},
      {R"({})", "no \"version\" field defined"},
      {R"({"version":"beta"})", "unsupported \"version\" value \"beta\""},
      {R"({"version":1})", "cannot unmarshal number"},
      {R"({"version":"alpha0","Bogus":1})", "unknown field \"Bogus\""},
      {R"({"version":"alpha0"} {})", "invalid JSON"},
      {R"({"version":"alpha0","Enabled":"yes"})", "invalid opt.Bool"},
      {R"({"version":"alpha0","Hostname":5})", "Hostname of type string"},
      {R"({"version":"alpha0","AdvertiseRoutes":["10.0.0.1/8"]})", "non-address bits set"},
      {R"({"version":"alpha0","AdvertiseRoutes":["nonsense"]})", "ParsePrefix"},
      {R"({"version":"alpha0","NetfilterMode":"sometimes"})", "ParseNetfilterMode"},
      {R"({"version":"alpha0","ServerURL":"ftp://x"})", "ServerURL"},
      {R"({"version":"alpha0","ServerURL":"https://"})", "ServerURL"},
      {R"({"version":"alpha0","exitNode":""})", "exitNode"},
      {R"({"version":"alpha0","AppConnector":{"Advertize":true}})", "unknown field"},
      {R"({"version":"alpha0","AutoUpdate":{"Check":1}})", "Check of type bool"},
      {R"({"version":"alpha0","RelayServerPort":-1})", "uint16"},
      {R"({"version":"alpha0","StaticEndpoints":["1.2.3.4"]})", "AddrPort"},
      {R"({"version":"alpha0","ServeConfigTemp":{}})", "not supported"},
      {R"({"version":"alpha0","Hostname":"a\u0000b"})", "Hostname"},
  };
  for (const auto& tc : cases) {
    auto c = parseConfigVAlpha(tc.json);
    ASSERT_FALSE(c) << tc.json;
    EXPECT_EQ(c.error().kind, ErrorKind::INVALID);
    EXPECT_NE(c.error().message.find("error parsing config file"), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find(tc.wantInError), std::string::npos)
        << tc.json << " → " << c.error().message;
  }
}

TEST(ConfigVAlpha, ReserialisedConfigParsesToTheSameConfig) {
  auto c = parseConfigVAlpha(
      R"({"version":"alpha0","authkey":"tskey-x","acceptroutes":true,"AdvertiseRoutes":["fd00::/8"],)"
      R"("AutoUpdate":{"Check":true,"Apply":false},"RelayServerPort":0,"Locked":false})");
  ASSERT_TRUE(c) << c.error().message;
  std::string text = configVAlphaToString(*c);
  EXPECT_EQ(text.rfind(R"({"Version":"alpha0","Locked":false,"AuthKey":"tskey-x")", 0), 0u) << text;
  auto back = parseConfigVAlpha(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(configVAlphaToString(*back), text);
  EXPECT_EQ(configToMaskedPrefs(*back)->prefs, configToMaskedPrefs(*c)->prefs);
}

}  // namespace
}  // namespace tnet::ipn
