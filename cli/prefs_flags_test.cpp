#include "cli/prefs_flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/ip_prefix.h"

namespace tnet::cli {
namespace {

Json runningStatus() {
  return Json::parse(R"({
    "BackendState": "Running",
    "TailscaleIPs": ["100.64.0.1"],
    "MagicDNSSuffix": "tail1234.ts.net",
    "Peer": {
      "nodekey:aa": {"ID": "nExit", "DNSName": "exit1.tail1234.ts.net.", "TailscaleIPs": ["100.64.0.9"],
                     "ExitNodeOption": true},
      "nodekey:bb": {"ID": "nPlain", "DNSName": "plain.tail1234.ts.net.", "TailscaleIPs": ["100.64.0.8"],
                     "ExitNodeOption": false}
    }})");
}

TEST(PrefsFlags, DownIsExactlyGos) {
  EXPECT_EQ(downMaskedPrefs().dump(), R"({"WantRunning":false,"WantRunningSet":true})");
}

TEST(PrefsFlags, SetHostnameOnly) {
  PrefFlags f;
  f.hostname = "h";
  auto mp = maskedPrefsFromSetFlags(f, Json::object(), Json::object());
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->dump(), R"({"Hostname":"h","HostnameSet":true})");
}

TEST(PrefsFlags, SetSeveralFlagsUsesGoNamesAndOrder) {
  PrefFlags f;
  f.acceptRoutes = true;
  f.shieldsUp = false;
  f.operatorUser = "alice";
  f.acceptDns = false;
  f.exitNodeAllowLanAccess = true;
  f.advertiseRoutes = "192.168.0.0/24,10.0.0.0/8";
  auto mp = maskedPrefsFromSetFlags(f, Json::object(), Json::object());
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->dump(),
            R"({"RouteAll":true,"ExitNodeAllowLANAccess":true,"CorpDNS":false,"ShieldsUp":false,)"
            R"("AdvertiseRoutes":["10.0.0.0/8","192.168.0.0/24"],"OperatorUser":"alice",)"
            R"("RouteAllSet":true,"ExitNodeAllowLANAccessSet":true,"CorpDNSSet":true,"ShieldsUpSet":true,)"
            R"("AdvertiseRoutesSet":true,"OperatorUserSet":true})");
}

TEST(PrefsFlags, SetExitNodeByNameAndClear) {
  PrefFlags f;
  f.exitNode = "exit1";
  auto mp = maskedPrefsFromSetFlags(f, runningStatus(), Json::object());
  ASSERT_TRUE(mp) << mp.error().message;
  EXPECT_EQ(mp->dump(),
            R"({"ExitNodeID":"","ExitNodeIP":"100.64.0.9","ExitNodeIDSet":true,"ExitNodeIPSet":true})");

  f.exitNode = "";
  mp = maskedPrefsFromSetFlags(f, runningStatus(), Json::object());
  ASSERT_TRUE(mp);
  EXPECT_EQ(mp->dump(), R"({"ExitNodeID":"","ExitNodeIP":"","ExitNodeIDSet":true,"ExitNodeIPSet":true})");
}

TEST(PrefsFlags, ExitNodeErrorsAreGos) {
  auto st = runningStatus();
  EXPECT_EQ(exitNodeIpOfArg("plain", st).error().message, "node \"plain\" is not advertising an exit node");
  EXPECT_EQ(exitNodeIpOfArg("nope", st).error().message,
            "invalid value \"nope\" for --exit-node; must be IP or peer hostname");
  EXPECT_EQ(exitNodeIpOfArg("100.64.0.1", st).error().message,
            "cannot use 100.64.0.1 as an exit node as it is a local IP address to this machine; did you mean "
            "--advertise-exit-node?");
  EXPECT_EQ(exitNodeIpOfArg("100.64.0.77", st).error().message,
            "no node found in netmap with IP 100.64.0.77");
  EXPECT_EQ(exitNodeIpOfArg("100.64.0.9", st).value(), "100.64.0.9");
  EXPECT_EQ(exitNodeIpOfArg("EXIT1.tail1234.ts.net", st).value(), "100.64.0.9");
  EXPECT_FALSE(exitNodeIpOfArg("exit1", Json::object()));  // no peers yet
}

TEST(PrefsFlags, SetAdvertiseExitNodeKeepsOtherRoutes) {
  PrefFlags f;
  f.advertiseExitNode = true;
  Json cur = {{"AdvertiseRoutes", {"10.0.0.0/8"}}};
  auto mp = maskedPrefsFromSetFlags(f, Json::object(), cur);
  ASSERT_TRUE(mp);
  EXPECT_EQ((*mp)["AdvertiseRoutes"], Json({"10.0.0.0/8", "0.0.0.0/0", "::/0"}));
  EXPECT_EQ((*mp)["AdvertiseRoutesSet"], true);

  f.advertiseExitNode = false;
  cur = {{"AdvertiseRoutes", {"0.0.0.0/0", "::/0", "10.0.0.0/8"}}};
  mp = maskedPrefsFromSetFlags(f, Json::object(), cur);
  EXPECT_EQ((*mp)["AdvertiseRoutes"], Json({"10.0.0.0/8"}));
}

TEST(PrefsFlags, AdvertiseRoutesValidation) {
  EXPECT_EQ(calcAdvertiseRoutes("10.0.0.1/8", false).error().message,
            "10.0.0.1/8 has non-address bits set; expected 10.0.0.0/8");
  EXPECT_EQ(calcAdvertiseRoutes("banana", false).error().message,
            "\"banana\" is not a valid IP address or CIDR prefix");
  EXPECT_EQ(calcAdvertiseRoutes("10.0.0.1", false).error().message,
            "\"10.0.0.1\" is not a valid IP address or CIDR prefix");
  EXPECT_EQ(calcAdvertiseRoutes("0.0.0.0/0", false).error().message,
            "0.0.0.0/0 advertised without its IPv6 counterpart, please also advertise ::/0");
  auto r = calcAdvertiseRoutes("fd00::/8,10.0.0.0/8,10.0.0.0/8,192.168.1.0/24", true);
  ASSERT_TRUE(r);
  // Go: by prefix length, then address with IPv4 before IPv6.
  EXPECT_EQ(*r, (std::vector<std::string>{"0.0.0.0/0", "::/0", "10.0.0.0/8", "fd00::/8", "192.168.1.0/24"}));
  EXPECT_TRUE(calcAdvertiseRoutes("", false)->empty());
}

TEST(PrefsFlags, UpPrefsAreFullGoPrefs) {
  PrefFlags f;
  f.hostname = "web-1";
  f.loginServer = "http://127.0.0.1:8080";
  f.acceptRoutes = true;
  auto p = prefsFromUpFlags(f, Json::object(), Json::object(), false, "");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(
      p->dump(),
      R"({"ControlURL":"http://127.0.0.1:8080","RouteAll":true,"ExitNodeID":"","ExitNodeIP":"",)"
      R"("InternalExitNodePrior":"","ExitNodeAllowLANAccess":false,"CorpDNS":true,"RunSSH":false,)"
      R"("RunWebClient":false,"WantRunning":true,"LoggedOut":false,"ShieldsUp":false,"AdvertiseTags":null,)"
      R"("Hostname":"web-1","NotepadURLs":false,"AdvertiseRoutes":null,"AdvertiseServices":null,)"
      R"("Sync":null,"NoSNAT":false,"NoStatefulFiltering":true,"NetfilterMode":2,)"
      R"("AutoUpdate":{"Check":true,"Apply":null},"AppConnector":{"Advertise":false},)"
      R"("PostureChecking":false,"NetfilterKind":"","RemoteConfig":false,"DriveShares":null,"Config":null})");
  auto opts = startOptions(*p, "tskey-abc");
  EXPECT_EQ(opts.begin().key(), "FrontendLogID");
  EXPECT_EQ(opts["UpdatePrefs"], *p);
  EXPECT_EQ(opts["AuthKey"], "tskey-abc");
  EXPECT_EQ(std::next(opts.begin(), 2).key(), "AuthKey");
}

TEST(PrefsFlags, UpKeepsSavedControlUrlAndUnflaggedSettings) {
  Json cur = {{"ControlURL", "http://ctl.example:1"},
              {"RunSSH", true},
              {"NetfilterMode", 0},
              {"OperatorUser", "bob"},
              {"ProfileName", "work"}};
  auto p = prefsFromUpFlags(PrefFlags{}, Json::object(), cur, false, "bob");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)["ControlURL"], "http://ctl.example:1");
  EXPECT_EQ((*p)["RunSSH"], true);
  EXPECT_EQ((*p)["NetfilterMode"], 0);
  EXPECT_EQ((*p)["OperatorUser"], "bob");  // Go's applyImplicitPrefs: the invoking user
  EXPECT_EQ((*p)["ProfileName"], "work");
  // OperatorUser and ProfileName sit where Go puts them: after NetfilterMode, before AutoUpdate.
  std::vector<std::string> keys;
  for (auto it = p->begin(); it != p->end(); ++it) keys.push_back(it.key());
  auto at = [&](const char* k) { return std::find(keys.begin(), keys.end(), k) - keys.begin(); };
  EXPECT_EQ(at("OperatorUser"), at("NetfilterMode") + 1);
  EXPECT_EQ(at("ProfileName"), at("OperatorUser") + 1);
  EXPECT_EQ(at("AutoUpdate"), at("ProfileName") + 1);

  auto reset = prefsFromUpFlags(PrefFlags{}, Json::object(), cur, true, "bob");
  EXPECT_EQ((*reset)["RunSSH"], false);
  EXPECT_FALSE(reset->contains("OperatorUser"));
}

TEST(PrefsFlags, UpValidatesLikeGo) {
  PrefFlags f;
  f.exitNodeAllowLanAccess = true;
  EXPECT_EQ(prefsFromUpFlags(f, Json::object(), Json::object(), false, "").error().message,
            "--exit-node-allow-lan-access can only be used with --exit-node");
  PrefFlags h;
  h.hostname = "-bad";
  EXPECT_EQ(prefsFromUpFlags(h, Json::object(), Json::object(), false, "").error().message,
            "\"-bad\" is not a valid DNS label: must start with a letter or number");
}

TEST(PrefsFlags, JustEditMarksGivenFlagsAndWantRunning) {
  PrefFlags f;
  f.hostname = "x";
  f.exitNode = "";
  auto p = prefsFromUpFlags(f, Json::object(), Json::object(), false, "");
  auto mp = justEditMaskedPrefs(*p, f, false);
  EXPECT_EQ(mp["HostnameSet"], true);
  EXPECT_EQ(mp["ExitNodeIPSet"], true);
  EXPECT_EQ(mp["ExitNodeIDSet"], true);
  EXPECT_EQ(mp["WantRunningSet"], true);
  EXPECT_FALSE(mp.contains("RouteAllSet"));
  EXPECT_EQ(mp["WantRunning"], true);
  auto all = justEditMaskedPrefs(*p, f, true);
  EXPECT_EQ(all["RouteAllSet"], true);
  EXPECT_EQ(all["ControlURLSet"], true);
}

TEST(PrefsFlags, UpCheckerNamesTheMissingFlags) {
  Json cur = {{"ControlURL", "https://controlplane.tailscale.com"},
              {"Hostname", "old"},
              {"ShieldsUp", true},
              {"CorpDNS", true},
              {"Config", {{"UserProfile", {{"LoginName", "op@example.com"}}}}}};
  PrefFlags f;
  f.acceptRoutes = true;
  auto p = prefsFromUpFlags(f, Json::object(), cur, false, "");
  auto r = checkForAccidentalSettingReverts(*p, cur, f, true, {"--accept-routes"}, "Running", Json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "Error: changing settings via 'tnet up' requires mentioning all\n"
            "non-default flags. To proceed, either re-run your command with --reset or\n"
            "use the command below to explicitly mention the current value of\n"
            "all non-default settings:\n\n"
            "\ttnet up --accept-routes --hostname=old --shields-up\n\n");

  // Mentioning them (login-server synonyms are equal) passes.
  f.hostname = "old";
  f.shieldsUp = true;
  f.loginServer = "https://login.tailscale.com";
  p = prefsFromUpFlags(f, Json::object(), cur, false, "");
  EXPECT_TRUE(checkForAccidentalSettingReverts(*p, cur, f, true, {}, "Running", Json::object()));

  // A bare up after a login is a simple up; with no control URL chosen nothing is checked.
  auto bare = checkForAccidentalSettingReverts(*p, cur, PrefFlags{}, false, {}, "Stopped", Json::object());
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->simpleUp);
  EXPECT_TRUE(checkForAccidentalSettingReverts(*p, Json::object(), PrefFlags{}, true, {}, "NeedsLogin",
                                               Json::object()));
}

TEST(PrefsFlags, FlagFormatting) {
  EXPECT_EQ(formatFlagArg("shields-up", true), "--shields-up");
  EXPECT_EQ(formatFlagArg("accept-dns", false), "--accept-dns=false");
  EXPECT_EQ(formatFlagArg("hostname", std::string()), "--hostname=");
  EXPECT_EQ(formatFlagArg("hostname", std::string("a b")), "--hostname='a b'");
  EXPECT_EQ(formatFlagArg("advertise-routes", std::string("10.0.0.0/8,fd00::/8")),
            "--advertise-routes=10.0.0.0/8,fd00::/8");
}

TEST(PrefsFlags, ApplyMaskedPrefsForCheckPrefs) {
  Json cur = {{"Hostname", "a"}, {"ShieldsUp", false}};
  PrefFlags f;
  f.hostname = "b";
  auto mp = maskedPrefsFromSetFlags(f, Json::object(), cur);
  Json out = applyMaskedPrefs(cur, *mp);
  EXPECT_EQ(out["Hostname"], "b");
  EXPECT_EQ(out["ShieldsUp"], false);
  EXPECT_FALSE(out.contains("HostnameSet"));
}

TEST(PrefsFlags, AuthKeyFromFile) {
  char path[] = "/tmp/tnet-authkey-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const char content[] = "  tskey-auth-k123\n\n";
  ASSERT_EQ(write(fd, content, sizeof(content) - 1), static_cast<ssize_t>(sizeof(content) - 1));
  close(fd);
  EXPECT_EQ(resolveAuthKey(std::string("file:") + path).value(), "tskey-auth-k123");
  EXPECT_EQ(resolveAuthKey("tskey-literal").value(), "tskey-literal");
  unlink(path);
  auto missing = resolveAuthKey(std::string("file:") + path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, std::string("open ") + path + ": No such file or directory");
}

}  // namespace
}  // namespace tnet::cli
