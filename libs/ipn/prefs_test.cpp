#include "libs/ipn/prefs.h"

#include <gtest/gtest.h>

namespace tnet::ipn {
namespace {

TEST(Prefs, NewPrefsJsonMatchesGoFieldsOrderAndZeroValues) {
  // The exact bytes Go's json.Marshal(ipn.NewPrefs()) writes on Linux (hand-derived from
  // ipn/prefs.go: declaration order, omitempty, opt.Bool "unset" → null, nil slices → null).
  std::string want = R"({"ControlURL":"","RouteAll":false,"ExitNodeID":"","ExitNodeIP":"",)"
                     R"("InternalExitNodePrior":"","ExitNodeAllowLANAccess":false,"CorpDNS":true,)"
                     R"("RunSSH":false,"RunWebClient":false,"WantRunning":false,"LoggedOut":false,)"
                     R"("ShieldsUp":false,"AdvertiseTags":null,"Hostname":"","NotepadURLs":false,)"
                     R"("AdvertiseRoutes":null,"AdvertiseServices":null,"Sync":null,"NoSNAT":false,)"
                     R"("NoStatefulFiltering":true,"NetfilterMode":2,)"
                     R"("AutoUpdate":{"Check":true,"Apply":null},"AppConnector":{"Advertise":false},)"
                     R"("PostureChecking":false,"NetfilterKind":"","RemoteConfig":false,"DriveShares":null,)"
                     R"("Config":null})";
  EXPECT_EQ(prefsToString(newPrefs(), false), want);
}

TEST(Prefs, RoundTripEveryField) {
  Prefs p = newPrefs();
  p.controlUrl = "http://127.0.0.1:9";
  p.routeAll = true;
  p.exitNodeId = "nABC";
  p.exitNodeIp = *parseIpAddr("fd7a:115c:a1e0::1");
  p.autoExitNode = "any";
  p.internalExitNodePrior = "nOLD";
  p.exitNodeAllowLanAccess = true;
  p.corpDns = false;
  p.runSsh = true;
  p.runWebClient = true;
  p.wantRunning = true;
  p.loggedOut = true;
  p.shieldsUp = true;
  p.advertiseTags = std::vector<std::string>{"tag:a", "tag:b"};
  p.hostname = "host<1>&";
  p.notepadUrls = true;
  p.forceDaemon = true;
  p.egg = true;
  p.advertiseRoutes = std::vector<IpPrefix>{*parseIpPrefix("10.0.0.0/8"), *parseIpPrefix("::/0")};
  p.advertiseServices = std::vector<std::string>{};
  p.sync = OptBool::of(false);
  p.noSnat = true;
  p.noStatefulFiltering = OptBool::of(false);
  p.netfilterMode = NETFILTER_NO_DIVERT;
  p.operatorUser = "alice";
  p.profileName = "work";
  p.autoUpdate = {false, OptBool::of(true)};
  p.appConnector.advertise = true;
  p.postureChecking = true;
  p.netfilterKind = "nftables";
  p.remoteConfig = true;
  p.driveShares = std::vector<DriveShare>{{"docs", "/srv/docs", "bob", ""}};
  p.relayServerPort = 0;
  p.relayServerStaticEndpoints = std::vector<IpAddrPort>{*parseIpAddrPort("[::1]:41641")};
  Persist per;
  per.nodeId = "nSELF";
  per.userProfile.id = 42;
  per.userProfile.loginName = "alice@example.com";
  p.persist = per;

  std::string text = prefsToString(p, true);
  EXPECT_NE(text.find("\"Hostname\": \"host\\u003c1\\u003e\\u0026\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"PrivateNodeKey\": \"privkey:0000"), std::string::npos);
  EXPECT_NE(text.find("\n\t\"ControlURL\": "), std::string::npos) << "tab indent as Go";

  auto doc = parseJson(text);
  ASSERT_TRUE(doc) << doc.error().message;
  Prefs back;
  ASSERT_TRUE(prefsFromJson(*doc, back));
  EXPECT_EQ(back, p);
  EXPECT_EQ(prefsToString(back, true), text);
}

TEST(Prefs, DecodeKeepsBaseForAbsentFieldsAndMatchesKeysCaseInsensitively) {
  Prefs p = newPrefs();
  auto doc = parseJson(R"({"wantrunning":true,"HOSTNAME":"x","Unknown":1})");
  ASSERT_TRUE(doc);
  ASSERT_TRUE(prefsFromJson(*doc, p));
  EXPECT_TRUE(p.wantRunning);
  EXPECT_EQ(p.hostname, "x");
  EXPECT_TRUE(p.corpDns) << "absent field keeps the base value";
}

TEST(Prefs, DecodeErrorsNameFieldAndType) {
  Prefs p;
  auto doc = parseJson(R"({"RouteAll":"yes"})");
  auto r = prefsFromJson(*doc, p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "json: cannot unmarshal string into Go struct field Prefs.RouteAll of type bool");
  doc = parseJson(R"({"ExitNodeIP":"1.2.3"})");
  EXPECT_FALSE(prefsFromJson(*doc, p));
  doc = parseJson(R"({"AdvertiseRoutes":["10.0.0.0/33"]})");
  EXPECT_FALSE(prefsFromJson(*doc, p));
  doc = parseJson(R"({"NetfilterMode":1.5})");
  EXPECT_FALSE(prefsFromJson(*doc, p));
  doc = parseJson(R"({"RelayServerPort":70000})");
  EXPECT_FALSE(prefsFromJson(*doc, p));
  doc = parseJson(R"([1,2])");
  EXPECT_FALSE(prefsFromJson(*doc, p));
}

TEST(Prefs, NullLeavesPlainFieldsAndClearsPointerFields) {
  Prefs p = newPrefs();
  p.advertiseTags = std::vector<std::string>{"tag:x"};
  auto doc = parseJson(R"({"CorpDNS":null,"AdvertiseTags":null,"Sync":null})");
  ASSERT_TRUE(prefsFromJson(*doc, p));
  EXPECT_TRUE(p.corpDns);
  EXPECT_FALSE(p.advertiseTags.has_value());
  EXPECT_EQ(p.sync.raw(), OptBool::Raw::UNSET);
}

TEST(Prefs, ControlUrlOrDefaultAndExitNodeAdvert) {
  Prefs p;
  EXPECT_EQ(p.controlUrlOrDefault(), DEFAULT_CONTROL_URL);
  p.controlUrl = "https://login.tailscale.com";
  EXPECT_EQ(p.controlUrlOrDefault(), DEFAULT_CONTROL_URL);
  p.controlUrl = "http://127.0.0.1:9";
  EXPECT_EQ(p.controlUrlOrDefault(), "http://127.0.0.1:9");
  EXPECT_FALSE(p.advertisesExitNode());
  p.advertiseRoutes = std::vector<IpPrefix>{*parseIpPrefix("0.0.0.0/0"), *parseIpPrefix("::/0")};
  EXPECT_TRUE(p.advertisesExitNode());
}

TEST(GoJson, TrailingDataAndComments) {
  EXPECT_TRUE(parseJson(R"({"a":1} junk)", true));
  EXPECT_FALSE(parseJson(R"({"a":1} junk)", false));
  EXPECT_FALSE(parseJson("", true));
  EXPECT_FALSE(parseJson(R"({"a":1 // c
})",
                         false));
  EXPECT_TRUE(parseJson(R"({"a":1 // c
})",
                        false, true));
}

}  // namespace
}  // namespace tnet::ipn
