// Contract test: the real ipnd binary drives wgd, controld, magicsockd and netstackd, played
// here by test doubles on the real bus (ipnd_doubles.h), through every node-key flow of
// ARCHITECTURE.md §Keys: first login with an auth key → Running, interactive login with the
// approval arriving as controld.status, --force-reauth (new key, OldNodeKey), restart resuming
// with the persisted key, logout; plus config pushes (order, generations, re-push after a
// service restart) and absent services (a Health line, never a hang).
#include "services/ipnd/app/ipnd_doubles.h"
#include "services/ipnd/app/ipnd_test_util.h"

namespace tnet {
namespace {

using namespace std::chrono_literals;
using namespace ipnd_test;
using bus::testing::runUntil;
using bus::testing::TempRuntime;

constexpr int RUNNING = 6;
constexpr int NEEDS_LOGIN = 2;

// One ipnd plus the four doubles and an apid-like caller, all on one loop.
struct Rig {
  Rig() {
    setenv("TS_CONTROL_URL", "http://127.0.0.1:9", 1);
    wgd = std::make_unique<FakeWgd>(apid.loop, rt.path(), pushes);
    controld = std::make_unique<FakeControld>(apid.loop, rt.path(), pushes);
    magicsockd = std::make_unique<FakeMagicsockd>(apid.loop, rt.path(), pushes);
    netstackd = std::make_unique<FakeNetstackd>(apid.loop, rt.path(), pushes);
    startIpnd();
    apid.bus().subscribe("ipnd.notify", [this](const bus::Event& ev) {
      auto n = ev.as<schema::Notify>();
      notifies.emplace_back(reinterpret_cast<const char*>(n.getJson().begin()), n.getJson().size());
    });
    apid.bus().subscribe("ipnd.state", [this](const bus::Event& ev) { state = ev.as<schema::IpnState>().getState(); });
    apid.bus().subscribe("controld.netmap", [this](const bus::Event&) { ++netmapsSeen; });
  }
  int netmapsSeen = 0;
  void startIpnd() {
    ipnd = std::make_unique<IpndProcess>(rt.path(), stateDir, rt.path() + "/notify");
    EXPECT_TRUE(notify.waitReady(5000ms));
  }
  bool waitState(int want, std::chrono::milliseconds timeout = 5000ms) {
    return runUntil(apid.loop, [&] { return state == want; }, timeout);
  }
  bool sawNotify(const std::string& s) const {
    for (const auto& n : notifies)
      if (n.find(s) != std::string::npos) return true;
    return false;
  }
  ipn::Json status() { return json(apid.call("GET", "status").body); }
  void up(const std::string& authKey) {
    std::string body = R"({"UpdatePrefs":{"WantRunning":true,"CorpDNS":true,"Hostname":"n1"})";
    if (!authKey.empty()) body += R"(,"AuthKey":")" + authKey + "\"";
    body += "}";
    ASSERT_EQ(apid.call("POST", "start", body).status, 204);
    ASSERT_EQ(apid.call("POST", "login-interactive").status, 204);
  }
  std::string prefsFileText() {
    std::ifstream pf(stateDir + "/prefs.json");
    return std::string((std::istreambuf_iterator<char>(pf)), std::istreambuf_iterator<char>());
  }

  TempRuntime rt;
  std::string stateDir = rt.path() + "/state";
  NotifySocket notify{rt.path() + "/notify"};
  std::unique_ptr<IpndProcess> ipnd;
  Apid apid{rt.path()};
  PushLog pushes;
  std::unique_ptr<FakeWgd> wgd;
  std::unique_ptr<FakeControld> controld;
  std::unique_ptr<FakeMagicsockd> magicsockd;
  std::unique_ptr<FakeNetstackd> netstackd;
  std::vector<std::string> notifies;
  int state = -1;
};

// ipnd starts before the services it drives (as under the supervisor) and still hears their
// live events, not only their snapshots.
TEST(IpndFlows, ServicesStartingAfterIpndAreHeard) {
  TempRuntime rt;
  setenv("TS_CONTROL_URL", "http://127.0.0.1:9", 1);
  NotifySocket notify(rt.path() + "/notify");
  IpndProcess ipnd(rt.path(), rt.path() + "/state", rt.path() + "/notify");
  ASSERT_TRUE(notify.waitReady(5000ms));
  Apid apid(rt.path());
  PushLog pushes;
  FakeControld controld(apid.loop, rt.path(), pushes);
  // ipnd found the late publisher (its config arrived). Its SUB connects on its own
  // reconnect timer; an event published before that is lost until the next one reveals the
  // gap (libs/bus's slow-joiner window, docs/ipnd.md §Not done), so allow it a second.
  ASSERT_TRUE(runUntil(apid.loop, [&] { return controld.configs > 0; }, 15000ms))
      << "the push chain waits 3 s for each absent service before controld";
  runUntil(apid.loop, [] { return false; }, 1000ms);
  controld.polledKey = "nodekey:" + std::string(64, 'e');
  controld.publishNetmap();
  EXPECT_TRUE(runUntil(apid.loop, [&] { return json(apid.call("GET", "status").body)["CurrentTailnet"].is_object(); },
                       5000ms));
}

TEST(IpndFlows, UpWithAuthKeyPreparesRegistersCommitsAndRuns) {
  Rig r;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-FLOW");
  ASSERT_TRUE(r.waitState(RUNNING)) << "controld config: key=" << r.controld->configNodePublic
                                    << " disco=" << r.controld->configDiscoPublic << " want=" << r.controld->configWantRunning
                                    << " netmaps=" << r.controld->netmapGeneration << " seen=" << r.netmapsSeen << "\n"
                                    << r.status().dump(1);
  ASSERT_EQ(r.controld->logins.size(), 1u);
  const auto& login = r.controld->logins[0];
  EXPECT_EQ(login.authKey, "tskey-auth-FLOW");
  EXPECT_EQ(login.oldNodePublic, "");
  EXPECT_FALSE(login.interactive);
  EXPECT_EQ(login.controlUrl, "http://127.0.0.1:9") << "TS_CONTROL_URL when prefs name none";
  EXPECT_NE(login.hostinfo.find("\"Hostname\":\"n1\""), std::string::npos) << login.hostinfo;
  EXPECT_EQ(r.wgd->current, login.nodePublic) << "committed after the register";
  EXPECT_EQ(r.wgd->commits, 1);
  EXPECT_TRUE(r.sawNotify(R"("LoginFinished":{})"));

  auto st = r.status();
  EXPECT_EQ(st["BackendState"], "Running");
  EXPECT_EQ(st["HaveNodeKey"], true);
  EXPECT_EQ(st["Self"]["PublicKey"], login.nodePublic);
  EXPECT_EQ(st["Self"]["HostName"], "n1");
  EXPECT_EQ(st["Self"]["DNSName"], "n1.tail1.ts.net.");
  EXPECT_EQ(st["TailscaleIPs"][0], "100.64.0.1");
  EXPECT_EQ(st["CurrentTailnet"]["Name"], "example.com");
  EXPECT_EQ(st["CurrentTailnet"]["MagicDNSSuffix"], "tail1.ts.net");
  EXPECT_EQ(st["CurrentTailnet"]["MagicDNSEnabled"], true);
  EXPECT_EQ(st["MagicDNSSuffix"], "tail1.ts.net");
  ASSERT_TRUE(st["Peer"].is_object()) << st.dump(1);
  ASSERT_EQ(st["Peer"].size(), 2u);
  const auto& b = st["Peer"][FakeControld::PEER_WITH_HOSTINFO];
  EXPECT_EQ(b["HostName"], "b");
  EXPECT_EQ(b["OS"], "linux");
  EXPECT_EQ(b["Relay"], "tst");
  EXPECT_EQ(b["Online"], true);
  EXPECT_EQ(b["TailscaleIPs"][0], "100.64.0.2");
  const auto& c = st["Peer"][FakeControld::PEER_WITHOUT_HOSTINFO];
  EXPECT_EQ(c["HostName"], "") << "a peer without Hostinfo is shown, not an error";
  EXPECT_EQ(st["User"]["10"]["LoginName"], "alice@example.com");

  // Config pushes: every service got the netmap's config, in order, acknowledged.
  ASSERT_TRUE(runUntil(r.apid.loop, [&] {
    return r.wgd->peers == 2 && r.magicsockd->regions == 1 && r.netstackd->addresses == 2 &&
           r.controld->configNodePublic == login.nodePublic;
  }));
  EXPECT_EQ(r.wgd->addresses, (std::vector<std::string>{"100.64.0.1/32", "fd7a:115c:a1e0::1/128"}));
  EXPECT_EQ(r.magicsockd->peers, 2u);
  EXPECT_TRUE(r.magicsockd->wantRunning);
  EXPECT_EQ(r.netstackd->dnsNames, 3u) << "self and both peers";
  EXPECT_EQ(r.netstackd->suffix, "tail1.ts.net");
  EXPECT_EQ(r.controld->configDiscoPublic, r.magicsockd->disco);
  EXPECT_EQ(r.controld->configControlUrl, "http://127.0.0.1:9");
  EXPECT_NE(r.controld->configHostinfo.find("\"Hostname\":\"n1\""), std::string::npos);
  EXPECT_NE(r.pushes.lastEpoch, 0u) << "generation epoch = ipnd's bus epoch";
  // Within each generation n the order is wgd → magicsockd → netstackd → controld.
  std::map<std::string, std::vector<std::string>> byGen;
  for (const auto& e : r.pushes.entries) {
    auto colon = e.find(':');
    byGen[e.substr(colon + 1)].push_back(e.substr(0, colon));
  }
  for (const auto& [gen, svcs] : byGen) {
    EXPECT_EQ(svcs, (std::vector<std::string>{"wgd", "magicsockd", "netstackd", "controld"})) << "generation " << gen;
  }

  // Persisted: the committed key, never the auth key.
  std::string saved = r.prefsFileText();
  EXPECT_NE(saved.find(login.nodePublic), std::string::npos);
  EXPECT_EQ(saved.find("FLOW"), std::string::npos);
  for (const auto& n : r.notifies) EXPECT_EQ(n.find("FLOW"), std::string::npos);

  // Data plane facts reach status.
  r.wgd->publishPeer(FakeControld::PEER_WITH_HOSTINFO, 1700000000000000000, 111, 222);
  r.magicsockd->publishDerp(1, true);
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.status()["Peer"][FakeControld::PEER_WITH_HOSTINFO]["RxBytes"] == 111; }));
  st = r.status();
  EXPECT_EQ(st["Peer"][FakeControld::PEER_WITH_HOSTINFO]["LastHandshake"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(st["Self"]["Relay"], "tst");
  EXPECT_TRUE(runUntil(r.apid.loop, [&] { return r.controld->configEndpoints == 1; }))
      << "magicsockd's endpoints reach controld";
}

TEST(IpndFlows, InteractiveLoginShowsTheUrlAndCommitsOnApproval) {
  Rig r;
  r.controld->mode = FakeControld::Mode::AUTH_URL;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("");
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.sawNotify(R"("BrowseToURL":"http://127.0.0.1:9/a/1")"); }));
  ASSERT_EQ(r.controld->logins.size(), 1u);
  EXPECT_TRUE(r.controld->logins[0].interactive);
  EXPECT_EQ(r.wgd->commits, 0) << "never committed before the user approved";
  EXPECT_FALSE(r.wgd->pending.empty());
  auto st = r.status();
  EXPECT_EQ(st["BackendState"], "NeedsLogin");
  EXPECT_EQ(st["AuthURL"], "http://127.0.0.1:9/a/1");
  EXPECT_FALSE(st.contains("HaveNodeKey"));
  r.controld->approve();
  ASSERT_TRUE(r.waitState(RUNNING));
  EXPECT_EQ(r.wgd->current, r.controld->logins[0].nodePublic);
  EXPECT_TRUE(r.sawNotify(R"("LoginFinished":{})"));
  EXPECT_EQ(r.status()["AuthURL"], "");
}

TEST(IpndFlows, ForceReauthRegistersANewKeyAndKeepsPrefs) {
  Rig r;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-1");
  ASSERT_TRUE(r.waitState(RUNNING));
  std::string first = r.wgd->current;
  ASSERT_EQ(r.apid.call("PATCH", "prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})").status, 200);
  // `tnet up --force-reauth`: login-interactive while Running.
  r.controld->mode = FakeControld::Mode::AUTH_URL;
  ASSERT_EQ(r.apid.call("POST", "login-interactive").status, 204);
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.controld->logins.size() == 2; }));
  EXPECT_EQ(r.controld->logins[1].oldNodePublic, first);
  EXPECT_NE(r.controld->logins[1].nodePublic, first);
  EXPECT_EQ(r.controld->logins[1].authKey, "") << "the auth key was spent by the first login";
  EXPECT_EQ(r.status()["Self"]["PublicKey"], first) << "old key until control accepts the new one";
  r.controld->approve();
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.status()["Self"]["PublicKey"] == r.controld->logins[1].nodePublic; }));
  EXPECT_EQ(r.wgd->current, r.controld->logins[1].nodePublic);
  auto prefs = json(r.apid.call("GET", "prefs").body);
  EXPECT_EQ(prefs["ShieldsUp"], true);
  EXPECT_EQ(prefs["Hostname"], "n1");
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.controld->configNodePublic == r.wgd->current; }))
      << "controld restarts its map poll with the new key";
  EXPECT_TRUE(r.netstackd->shieldsUp);
}

TEST(IpndFlows, RestartResumesWithThePersistedKeyAndServiceRestartsGetConfigAgain) {
  Rig r;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-1");
  ASSERT_TRUE(r.waitState(RUNNING));
  std::string key = r.wgd->current;
  EXPECT_EQ(r.ipnd->terminate(), 0);
  r.controld->polledKey.clear();  // the map poll follows the next setConfig
  r.state = -1;
  r.startIpnd();
  ASSERT_TRUE(r.waitState(RUNNING, 8000ms)) << r.status().dump(1);
  EXPECT_EQ(r.controld->logins.size(), 1u) << "no new login, no auth key";
  EXPECT_EQ(r.controld->configNodePublic, key);
  EXPECT_EQ(r.status()["Self"]["PublicKey"], key);

  // wgd restarts: ipnd sees its new epoch and pushes the latest config again.
  int before = r.wgd->configs;
  r.wgd.reset();
  r.wgd = std::make_unique<FakeWgd>(r.apid.loop, r.rt.path(), r.pushes, key);
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.wgd->configs > 0 && r.wgd->peers == 2; }, 8000ms))
      << "before the restart it had " << before;

  // magicsockd restarts with a fresh disco key: controld hears the new one.
  std::string oldDisco = r.magicsockd->disco;
  r.magicsockd.reset();
  r.magicsockd = std::make_unique<FakeMagicsockd>(r.apid.loop, r.rt.path(), r.pushes);
  ASSERT_NE(r.magicsockd->disco, oldDisco);
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.controld->configDiscoPublic == r.magicsockd->disco; }, 8000ms));
  EXPECT_EQ(r.magicsockd->regions, 1u) << "and magicsockd got the DERP map again";
}

TEST(IpndFlows, LogoutExpiresTheKeyAtControlAndForgetsIt) {
  Rig r;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-1");
  ASSERT_TRUE(r.waitState(RUNNING));
  std::string key = r.wgd->current;
  ASSERT_EQ(r.apid.call("POST", "logout").status, 204);
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.controld->logouts.size() == 1; }));
  EXPECT_EQ(r.controld->logouts[0], key);
  auto st = r.status();
  EXPECT_FALSE(st.contains("HaveNodeKey"));
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.controld->configs > 0 && r.controld->configNodePublic.empty(); }))
      << "controld stops polling";
  EXPECT_FALSE(r.controld->configWantRunning);
  EXPECT_EQ(r.prefsFileText().find(key), std::string::npos);
}

TEST(IpndFlows, ControlErrorEndsUpWithErrMessage) {
  Rig r;
  r.controld->mode = FakeControld::Mode::ERROR;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-bad");
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.sawNotify(R"("ErrMessage":"invalid key: unable to validate API key")"); }));
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.wgd->discards >= 1; })) << "the unregistered key is discarded";
  EXPECT_EQ(r.wgd->commits, 0);
  EXPECT_EQ(r.status()["BackendState"], "NeedsLogin");
}

TEST(IpndFlows, AbsentServicesGiveAHealthLineNeverAHang) {
  TempRuntime rt;
  setenv("TS_CONTROL_URL", "http://127.0.0.1:9", 1);
  NotifySocket notify(rt.path() + "/notify");
  IpndProcess ipnd(rt.path(), rt.path() + "/state", rt.path() + "/notify");
  ASSERT_TRUE(notify.waitReady(5000ms));
  Apid apid(rt.path());
  ASSERT_EQ(apid.call("POST", "start", R"({"UpdatePrefs":{"WantRunning":true},"AuthKey":"tskey-x"})").status, 204);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(apid.call("POST", "login-interactive").status, 204);
  // Status keeps answering at once while wgd.prepareNodeKey waits for its timeout.
  auto st = json(apid.call("GET", "status").body);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(st["BackendState"], "NeedsLogin");
  bool line = false;
  ASSERT_TRUE(runUntil(
      apid.loop,
      [&] {
        auto health = json(apid.call("GET", "status").body)["Health"];
        for (const auto& h : health) line |= h.get<std::string>().find("wgd.prepareNodeKey") != std::string::npos;
        return line;
      },
      10000ms))
      << json(apid.call("GET", "status").body)["Health"].dump();
}

// tnet ping / whois / netcheck: ipnd finds the peer in its netmap, asks magicsockd (a double
// answering later, as on a pong) and answers the LocalAPI call from the reply.
TEST(IpndFlows, PingWhoIsAndNetcheckThroughMagicsockd) {
  Rig r;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-PING");
  ASSERT_TRUE(r.waitState(RUNNING));
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.status()["Peer"].size() == 2; }, 5000ms));

  auto pong = r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=disco");
  ASSERT_EQ(pong.status, 200) << pong.body;
  EXPECT_EQ(pong.body,
            "{\"IP\":\"100.64.0.2\",\"NodeIP\":\"100.64.0.2\",\"NodeName\":\"b\",\"Err\":\"\","
            "\"LatencySeconds\":0.0123,\"Endpoint\":\"\",\"PeerRelay\":\"\",\"DERPRegionID\":1,\"DERPRegionCode\":\"tst\"}\n");
  ASSERT_EQ(r.magicsockd->pings.size(), 1u);
  EXPECT_EQ(r.magicsockd->pings[0].first, FakeControld::PEER_WITH_HOSTINFO);
  EXPECT_EQ(r.magicsockd->pings[0].second, "100.64.0.2");

  r.magicsockd->pingReply = {"", 2'000'000, "127.0.0.1:41642", 0, ""};
  auto direct = json(r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=disco").body);
  EXPECT_EQ(direct["Endpoint"], "127.0.0.1:41642");
  EXPECT_EQ(direct["DERPRegionID"], 0);
  EXPECT_DOUBLE_EQ(direct["LatencySeconds"].get<double>(), 0.002);

  r.magicsockd->pingReply = {"timeout", 0, "", 0, ""};
  EXPECT_EQ(json(r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=disco").body)["Err"], "timeout");

  // Not a peer, self, and refusals never reach magicsockd.
  size_t asked = r.magicsockd->pings.size();
  EXPECT_EQ(json(r.apid.call("POST", "ping", "", "ip=100.64.9.9&type=disco").body)["Err"], "no matching peer");
  EXPECT_EQ(json(r.apid.call("POST", "ping", "", "ip=100.64.0.1&type=disco").body)["IsLocalIP"], true);
  EXPECT_EQ(r.apid.call("GET", "ping", "", "ip=100.64.0.2&type=disco").body, "want POST\n");
  EXPECT_EQ(r.magicsockd->pings.size(), asked);

  // magicsockd silent: ipnd answers within the caller's deadline, with an error, and keeps
  // serving other calls.
  r.magicsockd->pingSilent = true;
  auto t0 = std::chrono::steady_clock::now();
  auto silent = r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=disco");
  EXPECT_EQ(silent.status, 200);
  EXPECT_NE(json(silent.body)["Err"].get<std::string>(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, bus::testing::scaled(3000ms));
  EXPECT_EQ(r.status()["BackendState"], "Running");

  auto who = r.apid.call("GET", "whois", "", "addr=100.64.0.2:80");
  ASSERT_EQ(who.status, 200) << who.body;
  auto w = json(who.body);
  EXPECT_EQ(w["Node"]["StableID"], "nB");
  EXPECT_EQ(w["Node"]["Key"], FakeControld::PEER_WITH_HOSTINFO);
  EXPECT_EQ(w["UserProfile"]["ID"], 10);
  auto unknown = r.apid.call("GET", "whois", "", "addr=100.64.9.9");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body, "no match for IP:port\n");

  auto nc = r.apid.call("GET", "tailnetd/netcheck");
  ASSERT_EQ(nc.status, 200) << nc.body;
  auto report = json(nc.body);
  EXPECT_EQ(report["Report"]["UDP"], true);
  EXPECT_EQ(report["Report"]["GlobalV4"], "127.0.0.1:41641");
  EXPECT_EQ(report["Report"]["RegionLatency"]["1"], 1520000);
  EXPECT_EQ(report["Regions"]["1"]["RegionName"], "Test");
  EXPECT_EQ(r.magicsockd->netchecks, 1);
}

// tnet ping --tsmp / --icmp: ipnd asks wgd (a double) with Go's type strings mapped to the kind,
// and answers Go's PingResult: NodeIP = the pinged IP, NodeName = ComputedName, PeerAPIPort for
// TSMP; wgd's errors verbatim; magicsockd is not involved.
TEST(IpndFlows, TsmpAndIcmpPingsThroughWgd) {
  Rig r;
  ASSERT_TRUE(r.waitState(NEEDS_LOGIN));
  r.up("tskey-auth-PING");
  ASSERT_TRUE(r.waitState(RUNNING));
  ASSERT_TRUE(runUntil(r.apid.loop, [&] { return r.status()["Peer"].size() == 2; }, 5000ms));

  r.wgd->pingReply = {"", 3'400'000, 41112};
  auto tsmp = r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=TSMP");
  ASSERT_EQ(tsmp.status, 200) << tsmp.body;
  EXPECT_EQ(tsmp.body,
            "{\"IP\":\"100.64.0.2\",\"NodeIP\":\"100.64.0.2\",\"NodeName\":\"b\",\"Err\":\"\","
            "\"LatencySeconds\":0.0034,\"Endpoint\":\"\",\"PeerRelay\":\"\",\"DERPRegionID\":0,\"DERPRegionCode\":\"\","
            "\"PeerAPIPort\":41112}\n");
  ASSERT_EQ(r.wgd->pings.size(), 1u);
  EXPECT_EQ(r.wgd->pings[0].ip, "100.64.0.2");
  EXPECT_EQ(r.wgd->pings[0].kind, "TSMP");
  EXPECT_GT(r.wgd->pings[0].timeoutMs, 0u);
  EXPECT_LE(r.wgd->pings[0].timeoutMs, 10000u);

  auto icmp = json(r.apid.call("POST", "ping", "", "ip=100.64.0.3&type=ICMP").body);
  EXPECT_EQ(icmp["NodeName"], "c");
  EXPECT_EQ(icmp["NodeIP"], "100.64.0.3");
  EXPECT_FALSE(icmp.contains("PeerAPIPort")) << "ICMP has no peerapi port";
  ASSERT_EQ(r.wgd->pings.size(), 2u);
  EXPECT_EQ(r.wgd->pings[1].kind, "ICMP");

  // wgd's error texts are the PingResult's Err, with only IP set (as Go's engine callback).
  r.wgd->pingReply = {"no self address matching address family", 0, 0};
  auto fam = r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=ICMP");
  EXPECT_EQ(fam.body,
            "{\"IP\":\"100.64.0.2\",\"NodeIP\":\"\",\"NodeName\":\"\",\"Err\":\"no self address matching address family\","
            "\"LatencySeconds\":0,\"Endpoint\":\"\",\"PeerRelay\":\"\",\"DERPRegionID\":0,\"DERPRegionCode\":\"\"}\n");
  r.wgd->pingReply = {"timeout", 0, 0};
  EXPECT_EQ(json(r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=TSMP").body)["Err"], "timeout");

  // Unknown and self IPs never reach wgd; neither ping type reaches magicsockd.
  const size_t asked = r.wgd->pings.size();
  EXPECT_EQ(json(r.apid.call("POST", "ping", "", "ip=100.64.9.9&type=TSMP").body)["Err"], "no matching peer");
  EXPECT_EQ(json(r.apid.call("POST", "ping", "", "ip=100.64.0.1&type=ICMP").body)["IsLocalIP"], true);
  EXPECT_EQ(r.wgd->pings.size(), asked);
  EXPECT_TRUE(r.magicsockd->pings.empty());

  // wgd silent: ipnd still answers within the caller's deadline, with an error.
  r.wgd->pingSilent = true;
  auto t0 = std::chrono::steady_clock::now();
  auto silent = r.apid.call("POST", "ping", "", "ip=100.64.0.2&type=TSMP");
  EXPECT_EQ(silent.status, 200);
  EXPECT_NE(json(silent.body)["Err"].get<std::string>(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, bus::testing::scaled(3000ms));
  EXPECT_EQ(r.status()["BackendState"], "Running");
}

}  // namespace
}  // namespace tnet
