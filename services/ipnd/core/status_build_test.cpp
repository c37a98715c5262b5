// Status with peers: Go's ipnstate.Status built from the netmap and the data plane's facts.
#include <gtest/gtest.h>

#include "libs/ipn/go_json.h"
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {
namespace {

const std::string SELF = "nodekey:" + std::string(64, 'a');
const std::string PEER_B = "nodekey:" + std::string(64, 'b');
const std::string PEER_C = "nodekey:" + std::string(64, 'c');

NetmapFacts sampleNetmap() {
  NetmapFacts nm;
  nm.machineAuthorized = true;
  nm.tailscaleIps = {"100.64.0.1", "fd7a:115c:a1e0::1"};
  nm.selfDnsName = "a.tail1.ts.net.";
  nm.selfStableId = "nSELF";
  nm.tailnetName = "example.com";
  nm.magicDnsSuffix = "tail1.ts.net";
  nm.magicDnsEnabled = true;
  NodeFacts self;
  self.id = 1;
  self.userId = 10;
  self.key = SELF;
  self.hostname = "a";
  self.createdUnix = 1700000000;
  nm.self = self;
  NodeFacts b;
  b.id = 2;
  b.stableId = "nB";
  b.name = "b.tail1.ts.net.";
  b.userId = 10;
  b.key = PEER_B;
  b.addresses = {"100.64.0.2/32", "fd7a:115c:a1e0::2/128", "10.0.0.0/24"};
  b.endpoints = {"127.0.0.1:41641"};
  b.homeDerp = 1;
  b.hasHostinfo = true;
  b.hostname = "b";
  b.os = "linux";
  b.online = true;
  b.lastSeenUnix = 1700000100;
  NodeFacts c;  // a peer whose map entry has no Hostinfo, endpoints or DERP
  c.id = 3;
  c.stableId = "nC";
  c.name = "c.tail1.ts.net.";
  c.userId = 11;
  c.key = PEER_C;
  c.addresses = {"100.64.0.3/32"};
  nm.peers = {b, c};
  nm.users = {{10, "alice@example.com", "Alice", "", std::nullopt}, {11, "bob@example.com", "Bob", "", std::nullopt}};
  nm.derpRegionCodes = {{1, "tst"}, {2, "two"}};
  return nm;
}

Backend runningBackend() {
  BackendOptions o;
  o.version = "0.1.0";
  o.osHostname = "os-host";
  Backend b(o);
  PrefsFile f;
  f.prefs.wantRunning = true;
  f.nodePublicKey = SELF;
  b.loadPrefs(f);
  b.startAtBoot();
  b.onNetmap(sampleNetmap());
  DerpFacts derp;  // magicsockd connected to the home region: Go's LiveDERPs > 0
  derp.homeRegion = 1;
  derp.connectedRegions = 1;
  b.onDerp(derp);
  return b;
}

TEST(StatusBuild, SelfPeersUsersAndTailnetFromTheNetmap) {
  Backend b = runningBackend();
  ASSERT_EQ(b.state(), ipn::State::RUNNING);
  ipn::Status s = b.status(true);
  ASSERT_TRUE(s.self);
  EXPECT_EQ(s.self->publicKey, SELF);
  EXPECT_EQ(s.self->hostName, "a");
  EXPECT_EQ(s.self->dnsName, "a.tail1.ts.net.");
  EXPECT_EQ(s.self->created, "2023-11-14T22:13:20Z");
  ASSERT_TRUE(s.tailscaleIps);
  EXPECT_EQ((*s.tailscaleIps)[0], "100.64.0.1");
  ASSERT_TRUE(s.currentTailnet);
  EXPECT_EQ(s.currentTailnet->name, "example.com");
  EXPECT_EQ(s.currentTailnet->magicDnsSuffix, "tail1.ts.net");
  EXPECT_TRUE(s.currentTailnet->magicDnsEnabled);
  EXPECT_EQ(s.magicDnsSuffix, "tail1.ts.net");
  ASSERT_TRUE(s.peer);
  ASSERT_EQ(s.peer->size(), 2u);
  const auto& pb = s.peer->at(PEER_B);
  EXPECT_EQ(pb.hostName, "b");
  EXPECT_EQ(pb.dnsName, "b.tail1.ts.net.");
  EXPECT_EQ(pb.os, "linux");
  EXPECT_EQ(*pb.tailscaleIps, (std::vector<std::string>{"100.64.0.2", "fd7a:115c:a1e0::2"}))
      << "subnet routes are not TailscaleIPs";
  EXPECT_EQ(pb.relay, "tst");
  EXPECT_TRUE(pb.online);
  EXPECT_EQ(pb.lastSeen, "2023-11-14T22:15:00Z");
  EXPECT_FALSE(pb.inEngine);
  const auto& pc = s.peer->at(PEER_C);
  EXPECT_EQ(pc.hostName, "");
  EXPECT_EQ(pc.os, "");
  EXPECT_EQ(pc.relay, "");
  EXPECT_FALSE(pc.online);
  ASSERT_TRUE(s.user);
  EXPECT_EQ(s.user->size(), 2u);
  // The whole thing serialises (no missing-Hostinfo surprises) with Go's keys.
  std::string body = ipn::statusToLocalApiBody(s);
  EXPECT_NE(body.find("\"Peer\": {\n\t\t\"" + PEER_B), std::string::npos) << body;
  EXPECT_EQ(b.status(false).peer, std::nullopt) << "?peers=false";
}

TEST(StatusBuild, DataPlaneFactsFillTrafficPathsAndHandshakes) {
  Backend b = runningBackend();
  WgPeerFacts wg;
  wg.lastHandshakeUnixNano = 1700000000123456000;
  wg.rxBytes = 1000;
  wg.txBytes = 2000;
  wg.state = "established";
  b.onWgPeers(true, {{PEER_B, wg}}, {});
  PathFacts p;
  p.curAddr = "127.0.0.1:41641";
  p.active = true;
  p.lastTxUnixMs = 1700000001000;
  b.onPaths({{PEER_B, p}});
  DerpFacts d;
  d.homeRegion = 2;
  d.connectedRegions = 1;
  d.endpoints = {"192.0.2.1:41641"};
  b.onDerp(d);
  auto notifies = b.takeNotifies();
  bool engine = false;
  for (const auto& n : notifies) engine |= n.json.find(R"("Engine":{"RBytes":1000,"WBytes":2000,"NumLive":1,"LiveDERPs":1)") != std::string::npos;
  EXPECT_TRUE(engine);
  ipn::Status s = b.status(true);
  EXPECT_EQ(s.self->relay, "two") << "Self.Relay is our home DERP's code";
  ASSERT_TRUE(s.self->addrs);
  const auto& pb = s.peer->at(PEER_B);
  EXPECT_EQ(pb.rxBytes, 1000);
  EXPECT_EQ(pb.txBytes, 2000);
  EXPECT_EQ(pb.lastHandshake, "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(pb.curAddr, "127.0.0.1:41641");
  EXPECT_TRUE(pb.active);
  EXPECT_TRUE(pb.inEngine);
  EXPECT_TRUE(pb.inMagicSock);
  EXPECT_EQ(pb.lastWrite, "2023-11-14T22:13:21Z");
  // A peer removed from wgd's list loses its engine facts.
  b.onWgPeers(false, {}, {PEER_B});
  EXPECT_FALSE(b.status(true).peer->at(PEER_B).inEngine);
}

TEST(StatusBuild, RunningGateFollowsGoOnceTheDataPlaneIsLive) {
  BackendOptions o;
  Backend b(o);
  PrefsFile f;
  f.prefs.wantRunning = true;
  f.nodePublicKey = SELF;
  b.loadPrefs(f);
  b.startAtBoot();
  NetmapFacts nm = sampleNetmap();
  b.onNetmap(nm);
  EXPECT_EQ(b.state(), ipn::State::STARTING) << "addresses and a DERP map, but nothing live";
  DerpFacts home;
  home.homeRegion = 1;
  b.onDerp(home);
  EXPECT_EQ(b.state(), ipn::State::STARTING) << "a home region that is not connected";
  WgPeerFacts wg;
  wg.lastHandshakeUnixNano = 1;
  b.onWgPeers(true, {{PEER_B, wg}}, {});
  EXPECT_EQ(b.state(), ipn::State::RUNNING) << "a live peer (Go's NumLive > 0)";
  Backend b2(o);
  b2.loadPrefs(f);
  b2.startAtBoot();
  b2.onNetmap(nm);
  EXPECT_EQ(b2.state(), ipn::State::STARTING);
  home.connectedRegions = 1;
  b2.onDerp(home);
  EXPECT_EQ(b2.state(), ipn::State::RUNNING) << "a connected DERP (Go's LiveDERPs > 0)";
  home.connectedRegions = 0;
  b2.onDerp(home);
  EXPECT_EQ(b2.state(), ipn::State::RUNNING) << "Running stays Running when DERP drops (Go)";
}

}  // namespace
}  // namespace tnet::ipnd
