#include "tests/integration/testcontrol/control_json.h"

#include <gtest/gtest.h>

#include "services/controld/core/map_decode.h"

namespace tnet::testcontrol {
namespace {

crypto::Key32 filled(uint8_t b) {
  crypto::Key32 k{};
  k.fill(b);
  return k;
}

NodeRecord sampleNode() {
  NodeRecord n;
  n.id = 7;
  n.stableId = "TESTCTRL00000007";
  n.nodeKey = key::NodePublic(filled(0x11));
  n.machineKey = key::MachinePublic(filled(0x22));
  n.userId = 1;
  IpPool pool;
  n.addresses = *pool.next();
  n.name = "box.tailnet.test.";
  n.hostinfo = StoredHostinfo{R"({"OS":"linux","Hostname":"box"})", "box", 0};
  n.endpoints.push_back(*ipn::parseIpAddrPort("127.0.0.1:41641"));
  n.homeDerp = 900;
  n.cap = 116;
  n.created = 1700000000;
  n.machineAuthorized = true;
  return n;
}

TEST(ControlJson, RegisterResponseShapes) {
  UserRecord u{1, "user-1@tailnet.test", "User 1"};
  EXPECT_EQ(registerResponseJson({&u, false, true, "", ""}),
            R"({"User":{"ID":1,"DisplayName":"User 1"},"Login":{"ID":1,"Provider":"testcontrol",)"
            R"("LoginName":"user-1@tailnet.test","DisplayName":"User 1"},"NodeKeyExpired":false,)"
            R"("MachineAuthorized":true,"AuthURL":"","NodeKeySignature":null,"Error":""})");
  // Go's json.Marshal(tailcfg.RegisterResponse{Error: "invalid authkey"}).
  EXPECT_EQ(registerResponseJson({nullptr, false, false, "", "invalid authkey"}),
            R"({"User":{"ID":0,"DisplayName":""},"Login":{"ID":0,"Provider":"","LoginName":"",)"
            R"("DisplayName":""},"NodeKeyExpired":false,"MachineAuthorized":false,"AuthURL":"",)"
            R"("NodeKeySignature":null,"Error":"invalid authkey"})");
}

TEST(ControlJson, NodeFieldsInGoOrder) {
  NodeRecord n = sampleNode();
  std::string k11(64, '1'), k22(64, '2');
  EXPECT_EQ(
      nodeJson(n, false),
      R"({"ID":7,"StableID":"TESTCTRL00000007","Name":"box.tailnet.test.","User":1,"Key":"nodekey:)" + k11 +
          R"(","Machine":"mkey:)" + k22 +
          R"(","Addresses":["100.64.0.1/32","fd7a:115c:a1e0:ab12:4843:cd96:6240:1/128"],)"
          R"("AllowedIPs":["100.64.0.1/32","fd7a:115c:a1e0:ab12:4843:cd96:6240:1/128"],)"
          R"("Endpoints":["127.0.0.1:41641"],"HomeDERP":900,"Hostinfo":{"OS":"linux","Hostname":"box"},)"
          R"("Created":"2023-11-14T22:13:20Z","Cap":116,"MachineAuthorized":true})");
  n.online = false;
  n.lastSeen = 1700000100;
  n.keyExpiry = 1700000200;
  std::string peer = nodeJson(n, true);
  EXPECT_NE(peer.find(R"("KeyExpiry":"2023-11-14T22:16:40Z")"), std::string::npos);
  EXPECT_NE(peer.find(R"("LastSeen":"2023-11-14T22:15:00Z","Online":false)"), std::string::npos);
}

TEST(ControlJson, ClientDecoderAcceptsAFullMap) {
  NodeRecord self = sampleNode();
  NodeRecord peer = sampleNode();
  peer.id = 8;
  peer.nodeKey = key::NodePublic(filled(0x33));
  peer.online = true;
  std::string peerText = nodeJson(peer, true);
  MapResponseParts p;
  p.node = nodeJson(self, false);
  p.derpMap = derpMapJson(DerpOptions{"127.0.0.1", 3340, -1});
  p.peers.push_back(&peerText);
  p.dnsConfig = dnsConfigJson("tailnet.test");
  p.domain = "tailnet.test";
  p.collectServices = true;
  p.packetFilter = packetFilterAllowAllJson();
  p.userProfiles.push_back(userProfileJson({1, "user-1@tailnet.test", "User 1"}));
  p.controlTime = 1700000000;
  std::string text = encodeMapResponse(p);
  auto m = controld::decodeMapResponse(text);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_TRUE(m->node);
  EXPECT_EQ(m->node->id, 7);
  EXPECT_EQ(m->node->homeDerp, 900);
  ASSERT_TRUE(m->peers);
  ASSERT_EQ(m->peers->size(), 1u);
  EXPECT_EQ(m->peers->at(0).key, key::NodePublic(filled(0x33)));
  EXPECT_EQ(m->peers->at(0).online, std::optional<bool>(true));
  ASSERT_TRUE(m->derpMap);
  ASSERT_EQ(m->derpMap->regions->count(900), 1u);
  EXPECT_EQ(m->domain, "tailnet.test");
  ASSERT_TRUE(m->packetFilter);
  EXPECT_EQ(m->packetFilter->size(), 1u);
}

TEST(ControlJson, DerpMapAndFilterExact) {
  EXPECT_EQ(ipn::goMarshal(derpMapJson(DerpOptions{"127.0.0.1", 3340, -1})),
            R"({"Regions":{"900":{"RegionID":900,"RegionCode":"test","RegionName":"Test Region","Nodes":[)"
            R"({"Name":"900a","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1","STUNPort":-1,)"
            R"("DERPPort":3340,"InsecureForTests":true}]}}})");
  EXPECT_EQ(ipn::goMarshal(derpMapJson(std::nullopt)), R"({"Regions":{}})");
  auto hub = ipn::goMarshal(derpMapJson(DerpOptions{"10.99.0.1", 3340, 3478}));
  EXPECT_NE(hub.find(R"("HostName":"10.99.0.1","IPv4":"10.99.0.1","STUNPort":3478)"), std::string::npos)
      << hub;
  auto v6 = ipn::goMarshal(derpMapJson(DerpOptions{"::1", 3340, -1}));
  EXPECT_NE(v6.find(R"("IPv4":"none","IPv6":"::1")"), std::string::npos) << v6;
  auto named = ipn::goMarshal(derpMapJson(DerpOptions{"localhost", 3340, -1}));
  EXPECT_NE(named.find(R"("HostName":"localhost","IPv4":"127.0.0.1")"), std::string::npos) << named;
  // Go: json.Marshal(tailcfg.FilterAllowAll).
  EXPECT_EQ(ipn::goMarshal(packetFilterAllowAllJson()),
            R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])");
  EXPECT_EQ(ipn::goMarshal(dnsConfigJson("tailnet.test")), R"({"Domains":["tailnet.test"],"Proxied":true})");
}

TEST(ControlJson, DeltaMessages) {
  MapResponseParts p;
  p.peersRemoved = {3, 12};
  p.onlineChange = {{12, false}, {3, true}};
  PeerChange c;
  c.nodeId = 5;
  c.derpRegion = 900;
  c.endpoints = std::vector<ipn::IpAddrPort>{*ipn::parseIpAddrPort("127.0.0.1:1")};
  p.peersChangedPatch.push_back(peerChangeJson(c));
  // Go writes integer map keys as strings, sorted as strings ("12" < "3").
  EXPECT_EQ(encodeMapResponse(p),
            R"({"PeersRemoved":[3,12],"PeersChangedPatch":[{"NodeID":5,"DERPRegion":900,)"
            R"("Endpoints":["127.0.0.1:1"]}],"OnlineChange":{"12":false,"3":true}})");
  MapResponseParts k;
  k.keepAlive = true;
  EXPECT_EQ(encodeMapResponse(k), R"({"KeepAlive":true})");
}

}  // namespace
}  // namespace tnet::testcontrol
