#include "libs/ipn/masked_prefs.h"

#include <gtest/gtest.h>

#include <cstring>

namespace tnet::ipn {
namespace {

TEST(MaskedPrefs, AppliesOnlySetFields) {
  Prefs p = newPrefs();
  p.hostname = "keep";
  auto m = parseMaskedPrefs(
      R"({"WantRunning":true,"WantRunningSet":true,"Hostname":"ignored","ShieldsUp":true,"ShieldsUpSet":true})");
  ASSERT_TRUE(m) << m.error().message;
  applyEdits(p, *m);
  EXPECT_TRUE(p.wantRunning);
  EXPECT_TRUE(p.shieldsUp);
  EXPECT_EQ(p.hostname, "keep") << "Hostname sent without HostnameSet must not apply";
}

TEST(MaskedPrefs, GoDownBody) {
  Prefs p = newPrefs();
  p.wantRunning = true;
  auto m = parseMaskedPrefs(R"({"WantRunning":false,"WantRunningSet":true})");
  ASSERT_TRUE(m);
  applyEdits(p, *m);
  EXPECT_FALSE(p.wantRunning);
  EXPECT_TRUE(p.corpDns);
}

TEST(MaskedPrefs, SetFlagCanClearAField) {
  Prefs p = newPrefs();
  p.advertiseRoutes = std::vector<IpPrefix>{*parseIpPrefix("10.0.0.0/8")};
  auto m = parseMaskedPrefs(R"({"AdvertiseRoutesSet":true})");
  ASSERT_TRUE(m);
  applyEdits(p, *m);
  EXPECT_FALSE(p.advertiseRoutes.has_value());
}

TEST(MaskedPrefs, AutoUpdateSubMask) {
  Prefs p = newPrefs();
  auto m =
      parseMaskedPrefs(R"({"AutoUpdate":{"Check":false,"Apply":true},"AutoUpdateSet":{"ApplySet":true}})");
  ASSERT_TRUE(m) << m.error().message;
  applyEdits(p, *m);
  EXPECT_TRUE(p.autoUpdate.check) << "CheckSet absent";
  EXPECT_TRUE(p.autoUpdate.apply.equalBool(true));
}

TEST(MaskedPrefs, FullGoMarshalledBodyIsAccepted) {
  // What Go's `tailscale set --shields-up` sends: every Prefs field plus the set flag.
  std::string body = prefsToString(newPrefs(), false);
  body.pop_back();
  body += R"(,"ShieldsUpSet":true})";
  auto m = parseMaskedPrefs(body);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->isSet("ShieldsUp"));
  EXPECT_EQ(m->set.size(), 1u);
}

TEST(MaskedPrefs, UnknownFieldsAreClearErrors) {
  auto m = parseMaskedPrefs(R"({"WantRuning":true,"WantRuningSet":true})");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("unknown field"), std::string::npos);
  EXPECT_NE(m.error().message.find("WantRuning"), std::string::npos);
  EXPECT_FALSE(parseMaskedPrefs(R"({"ConfigSet":true})"));
  EXPECT_FALSE(parseMaskedPrefs(R"({"AutoUpdateSet":{"Bogus":true}})"));
  EXPECT_FALSE(parseMaskedPrefs(R"({"Set":true})"));
  EXPECT_FALSE(parseMaskedPrefs(R"({"WantRunningSet":"yes"})"));
  EXPECT_FALSE(parseMaskedPrefs(R"([])"));
  EXPECT_FALSE(parseMaskedPrefs(R"({"WantRunning":)"));
}

TEST(MaskedPrefs, InternalFieldDetected) {
  auto m = parseMaskedPrefs(R"({"InternalExitNodePriorSet":true})");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->setsInternal());
}

TEST(MaskedPrefs, JsonRoundTrip) {
  auto m = parseMaskedPrefs(R"({"RouteAll":true,"RouteAllSet":true,"AutoUpdateSet":{"CheckSet":true}})");
  ASSERT_TRUE(m);
  std::string text = goMarshal(maskedPrefsToJson(*m));
  EXPECT_NE(text.find(R"("RouteAllSet":true)"), std::string::npos);
  EXPECT_NE(text.find(R"("AutoUpdateSet":{"CheckSet":true})"), std::string::npos);
  auto back = parseMaskedPrefs(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->set, m->set);
  EXPECT_TRUE(prefsEqual(back->prefs, m->prefs));
  EXPECT_EQ(goMarshal(maskedPrefsToJson(*back)), text);
}

}  // namespace
}  // namespace tnet::ipn

namespace tnet::ipn {
namespace {

TEST(MaskedPrefs, EveryGoSetFlagIsKnown) {
  // The Set fields of Go's ipn.MaskedPrefs (ipn/prefs.go), in declaration order.
  const char* goSetFields[] = {"ControlURLSet",
                               "RouteAllSet",
                               "ExitNodeIDSet",
                               "ExitNodeIPSet",
                               "AutoExitNodeSet",
                               "InternalExitNodePriorSet",
                               "ExitNodeAllowLANAccessSet",
                               "CorpDNSSet",
                               "RunSSHSet",
                               "RunWebClientSet",
                               "WantRunningSet",
                               "LoggedOutSet",
                               "ShieldsUpSet",
                               "AdvertiseTagsSet",
                               "HostnameSet",
                               "NotepadURLsSet",
                               "ForceDaemonSet",
                               "EggSet",
                               "AdvertiseRoutesSet",
                               "AdvertiseServicesSet",
                               "SyncSet",
                               "NoSNATSet",
                               "NoStatefulFilteringSet",
                               "NetfilterModeSet",
                               "OperatorUserSet",
                               "ProfileNameSet",
                               "AppConnectorSet",
                               "PostureCheckingSet",
                               "NetfilterKindSet",
                               "RemoteConfigSet",
                               "DriveSharesSet",
                               "RelayServerPortSet",
                               "RelayServerStaticEndpointsSet"};
  for (const char* f : goSetFields) {
    auto m = parseMaskedPrefs(std::string("{\"") + f + "\":true}");
    ASSERT_TRUE(m) << f << ": " << m.error().message;
    std::string field(f, std::strlen(f) - 3);
    EXPECT_TRUE(m->isSet(field)) << f;
  }
  auto au = parseMaskedPrefs(R"({"AutoUpdateSet":{"CheckSet":true,"ApplySet":true}})");
  ASSERT_TRUE(au);
  EXPECT_TRUE(au->autoUpdateCheckSet && au->autoUpdateApplySet);
  // And the Prefs fields Go marshals, in order, are exactly ours (omitempty ones included here).
  const char* goPrefsFields[] = {"ControlURL",
                                 "RouteAll",
                                 "ExitNodeID",
                                 "ExitNodeIP",
                                 "AutoExitNode",
                                 "InternalExitNodePrior",
                                 "ExitNodeAllowLANAccess",
                                 "CorpDNS",
                                 "RunSSH",
                                 "RunWebClient",
                                 "WantRunning",
                                 "LoggedOut",
                                 "ShieldsUp",
                                 "AdvertiseTags",
                                 "Hostname",
                                 "NotepadURLs",
                                 "ForceDaemon",
                                 "Egg",
                                 "AdvertiseRoutes",
                                 "AdvertiseServices",
                                 "Sync",
                                 "NoSNAT",
                                 "NoStatefulFiltering",
                                 "NetfilterMode",
                                 "OperatorUser",
                                 "ProfileName",
                                 "AutoUpdate",
                                 "AppConnector",
                                 "PostureChecking",
                                 "NetfilterKind",
                                 "RemoteConfig",
                                 "DriveShares",
                                 "RelayServerPort",
                                 "RelayServerStaticEndpoints",
                                 "Config"};
  auto fields = prefsFields();
  ASSERT_EQ(fields.size(), std::size(goPrefsFields));
  for (size_t i = 0; i < fields.size(); ++i) EXPECT_EQ(fields[i].name, goPrefsFields[i]);
}

}  // namespace
}  // namespace tnet::ipn
