#include "services/controld/core/map_decode.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

namespace tnet::controld {
namespace {

std::string hex64(char c) { return std::string(64, c); }

// A hand-written first MapResponse in the shape Go's testcontrol sends (sheet §A.6, tailcfg.go).
std::string goldenFull() {
  return R"({"MapSessionHandle":"sess-1","Seq":1,
  "Node":{"ID":1,"StableID":"nSelf","Name":"self.tail1234.ts.net.","User":100,
    "Key":"nodekey:)" + hex64('1') + R"(","KeyExpiry":"2030-01-01T00:00:00Z",
    "Machine":"mkey:)" + hex64('2') + R"(","DiscoKey":"discokey:)" + hex64('3') + R"(",
    "Addresses":["100.64.0.1/32","fd7a:115c:a1e0::1/128"],"AllowedIPs":["100.64.0.1/32","fd7a:115c:a1e0::1/128"],
    "HomeDERP":1,"Hostinfo":{"OS":"linux","Hostname":"self","Services":[{"Proto":"peerapi4","Port":1234}]},
    "Created":"2024-01-01T00:00:00Z","MachineAuthorized":true,"Capabilities":["https://tailscale.com/cap/is-admin"],
    "CapMap":{"https://tailscale.com/cap/file-sharing":null,"custom":[{"a":1}]},"ComputedName":"self"},
  "Peers":[
    {"ID":3,"StableID":"n3","Name":"legacy.tail1234.ts.net.","User":100,"Key":"nodekey:)" + hex64('4') + R"(",
     "DiscoKey":"discokey:)" + hex64('5') + R"(","Addresses":["100.64.0.3/32"],"DERP":"127.3.3.40:7",
     "Endpoints":["192.0.2.3:41641","[2001:db8::3]:41641"],"Online":true,"LastSeen":"2024-06-01T10:00:00Z",
     "Tags":["tag:server"],"PrimaryRoutes":["10.0.0.0/24"],"Cap":95},
    {"ID":2,"StableID":"n2","Name":"peer2.tail1234.ts.net.","User":101,"Key":"nodekey:)" + hex64('6') + R"(",
     "Addresses":["100.64.0.2/32"],"AllowedIPs":["100.64.0.2/32","0.0.0.0/0","::/0"],"HomeDERP":2,
     "Hostinfo":{"OS":"windows","Hostname":"win","RoutableIPs":["0.0.0.0/0"],"Unknown":{"deep":[1,2]}},
     "Online":null,"Expired":true,"KeyExpiry":"0001-01-01T00:00:00Z","SomeFutureField":[{"x":[[]]}]}],
  "DERPMap":{"HomeParams":{"RegionScore":{"1":0.5}},"Regions":{
     "1":{"RegionID":1,"RegionCode":"r1","RegionName":"Region One","Nodes":[
        {"Name":"1a","RegionID":1,"HostName":"derp1.example","IPv4":"127.0.0.1","IPv6":"none",
         "STUNPort":-1,"DERPPort":3340,"InsecureForTests":true,"CanPort80":true}]},
     "2":{"RegionID":2,"RegionCode":"r2","NoMeasureNoHome":true,"Nodes":[{"Name":"2a","RegionID":2,"HostName":"d2","CertName":"sha256-raw:abcd","STUNOnly":true}]},
     "9":null},"omitDefaultRegions":true},
  "DNSConfig":{"Resolvers":[{"Addr":"1.1.1.1"},{"Addr":"https://dns.example/q","BootstrapResolution":["192.0.2.53"]}],
     "Routes":{"corp.example.":[{"Addr":"10.0.0.53"}],"ts.net.":[]},"Domains":["tail1234.ts.net"],"Proxied":true,
     "CertDomains":["self.tail1234.ts.net"],"ExtraRecords":[{"Name":"x.tail1234.ts.net.","Value":"100.64.0.9"}]},
  "PacketFilter":[{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]},
     {"SrcIPs":["100.64.0.2"],"DstPorts":[{"IP":"100.64.0.1","Bits":32,"Ports":{"First":22,"Last":22}}],"IPProto":[6]},
     {"SrcIPs":["100.64.0.3"],"CapGrant":[{"Dsts":["100.64.0.1/32"],"CapMap":{"x":null}}]}],
  "UserProfiles":[{"ID":100,"LoginName":"alice@example.com","DisplayName":"Alice","ProfilePicURL":""},{"ID":101,"LoginName":"bob@example.com","DisplayName":"Bob"}],
  "Domain":"tail1234.ts.net","CollectServices":true,"Health":[],"ControlTime":"2024-06-01T10:00:05.5Z",
  "PingRequest":{"URL":"https://control.example/ping/1","Log":true},
  "SSHPolicy":{"rules":[]},"Debug":{"SleepSeconds":0}})";
}

TEST(MapDecode, GoldenFullResponse) {
  auto r = decodeMapResponse(goldenFull());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mapSessionHandle, "sess-1");
  EXPECT_EQ(r->seq, 1);
  ASSERT_TRUE(r->node);
  const Node& self = *r->node;
  EXPECT_EQ(self.id, 1);
  EXPECT_EQ(self.name, "self.tail1234.ts.net.");
  EXPECT_EQ(self.key.toString(), "nodekey:" + hex64('1'));
  EXPECT_EQ(self.machine.toString(), "mkey:" + hex64('2'));
  EXPECT_EQ(self.keyExpiry, std::optional<int64_t>(1893456000));
  ASSERT_EQ(self.addresses.size(), 2u);
  EXPECT_EQ(self.addresses[1].toString(), "fd7a:115c:a1e0::1/128");
  EXPECT_EQ(self.homeDerp, 1);
  ASSERT_TRUE(self.hostinfo);
  EXPECT_EQ(self.hostinfo->services.at(0).port, 1234);
  EXPECT_TRUE(self.machineAuthorized);
  EXPECT_EQ(self.capMap.at("https://tailscale.com/cap/file-sharing"), "null");
  EXPECT_EQ(self.capMap.at("custom"), "[{\"a\":1}]");

  ASSERT_TRUE(r->peers);
  ASSERT_EQ(r->peers->size(), 2u);
  const Node& legacy = (*r->peers)[0];
  EXPECT_EQ(legacy.id, 3);
  EXPECT_EQ(legacy.homeDerp, 7) << "legacy DERP string";
  EXPECT_FALSE(legacy.hostinfo) << "a peer without Hostinfo";
  EXPECT_FALSE(legacy.allowedIps);
  EXPECT_EQ(legacy.effectiveAllowedIps().at(0).toString(), "100.64.0.3/32") << "null AllowedIPs = Addresses";
  EXPECT_EQ(legacy.endpoints.at(1).toString(), "[2001:db8::3]:41641");
  EXPECT_EQ(legacy.online, std::optional<bool>(true));
  EXPECT_EQ(legacy.lastSeen, std::optional<int64_t>(1717236000));
  EXPECT_EQ(legacy.cap, 95);
  const Node& p2 = (*r->peers)[1];
  EXPECT_EQ(p2.effectiveAllowedIps().size(), 3u);
  EXPECT_EQ(p2.online, std::nullopt);
  EXPECT_TRUE(p2.expired);
  EXPECT_EQ(p2.keyExpiry, std::nullopt) << "zero time = never";
  EXPECT_EQ(p2.hostinfo->os, "windows");

  ASSERT_TRUE(r->derpMap && r->derpMap->regions);
  const auto& regions = *r->derpMap->regions;
  EXPECT_EQ(regions.size(), 2u) << "null region 9 dropped";
  EXPECT_TRUE(r->derpMap->omitDefaultRegions);
  EXPECT_EQ(r->derpMap->homeParams->regionScore->at(1), 0.5);
  const DerpNode& d1 = regions.at(1).nodes.at(0);
  EXPECT_EQ(d1.hostName, "derp1.example");
  EXPECT_EQ(d1.stunPort, -1);
  EXPECT_EQ(d1.derpPort, 3340);
  EXPECT_TRUE(d1.insecureForTests);
  EXPECT_EQ(d1.ipv6, "none");
  EXPECT_TRUE(regions.at(2).noMeasureNoHome);
  EXPECT_TRUE(regions.at(2).nodes.at(0).stunOnly);
  EXPECT_EQ(regions.at(2).nodes.at(0).certName, "sha256-raw:abcd");

  ASSERT_TRUE(r->dnsConfig);
  EXPECT_TRUE(r->dnsConfig->proxied);
  EXPECT_EQ(r->dnsConfig->resolvers.at(1).bootstrapResolution.at(0), "192.0.2.53");
  EXPECT_TRUE(r->dnsConfig->routes.at("ts.net.").empty());
  EXPECT_EQ(r->dnsConfig->extraRecords.at(0).value, "100.64.0.9");

  ASSERT_TRUE(r->packetFilter);
  ASSERT_EQ(r->packetFilter->size(), 3u);
  EXPECT_EQ((*r->packetFilter)[0].dstPorts.at(0).last, 65535);
  EXPECT_EQ((*r->packetFilter)[1].dstPorts.at(0).bits, 32);
  EXPECT_EQ((*r->packetFilter)[1].ipProto, std::vector<int>{6});
  EXPECT_EQ((*r->packetFilter)[2].capGrantJson, "[{\"CapMap\":{\"x\":null},\"Dsts\":[\"100.64.0.1/32\"]}]");
  EXPECT_EQ(r->userProfiles.size(), 2u);
  EXPECT_EQ(r->userProfiles[1].loginName, "bob@example.com");
  EXPECT_EQ(r->domain, "tail1234.ts.net");
  EXPECT_EQ(r->collectServices, std::optional<bool>(true));
  ASSERT_TRUE(r->health);
  EXPECT_TRUE(r->health->empty());
  EXPECT_EQ(r->controlTime, std::optional<int64_t>(1717236005));
  EXPECT_EQ(r->pingRequest->url, "https://control.example/ping/1");
}

TEST(MapDecode, DeltaFields) {
  auto r = decodeMapResponse(R"({"PeersChanged":[{"ID":5,"Key":"nodekey:)" + hex64('a') + R"("}],
    "PeersRemoved":[3,4],"PeersChangedPatch":[{"NodeID":2,"DERPRegion":4,"Endpoints":["192.0.2.9:1"],
    "Key":"nodekey:)" + hex64('b') + R"(","DiscoKey":"discokey:)" + hex64('c') + R"(","Online":false,
    "LastSeen":"2024-01-01T00:00:00Z","KeyExpiry":"2031-01-01T00:00:00Z","Cap":100,"CapMap":{"c":null}},{"NodeID":7}],
    "OnlineChange":{"2":true,"9":false},"PeerSeenChange":{"2":false},
    "PacketFilters":{"*":null,"extra":[{"SrcIPs":["*"]}],"gone":null},"DNSConfig":null,"DERPMap":null,"Node":null,"Peers":null})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->peers);
  EXPECT_FALSE(r->node);
  EXPECT_FALSE(r->derpMap);
  EXPECT_FALSE(r->dnsConfig);
  EXPECT_EQ(r->peersChanged->at(0).id, 5);
  EXPECT_EQ(r->peersRemoved, (std::vector<NodeId>{3, 4}));
  ASSERT_EQ(r->peersChangedPatch.size(), 2u);
  const PeerChange& pc = r->peersChangedPatch[0];
  EXPECT_EQ(pc.derpRegion, 4);
  EXPECT_EQ(pc.endpoints->at(0).port, 1);
  EXPECT_EQ(pc.key->toString(), "nodekey:" + hex64('b'));
  EXPECT_EQ(pc.online, std::optional<bool>(false));
  EXPECT_EQ(pc.cap, 100);
  EXPECT_TRUE(pc.capMap);
  EXPECT_TRUE(pc.keyExpiry && *pc.keyExpiry);
  const PeerChange& empty = r->peersChangedPatch[1];
  EXPECT_FALSE(empty.endpoints || empty.key || empty.discoKey || empty.online || empty.lastSeen || empty.keyExpiry);
  EXPECT_EQ(r->onlineChange.at(9), false);
  EXPECT_EQ(r->peerSeenChange.at(2), false);
  ASSERT_TRUE(r->packetFilters);
  EXPECT_FALSE(r->packetFilters->at("*"));
  EXPECT_FALSE(r->packetFilters->at("gone"));
  EXPECT_EQ(r->packetFilters->at("extra")->size(), 1u);
}

TEST(MapDecode, HostinfoJsonKeptForWhoIs) {
  auto r = decodeMapResponse(goldenFull());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->node->hostinfoJson,
            R"({"Hostname":"self","OS":"linux","Services":[{"Port":1234,"Proto":"peerapi4"}]})");
  const Node* win = nullptr;
  const Node* legacy = nullptr;
  for (const auto& p : *r->peers) (p.id == 2 ? win : legacy) = &p;
  ASSERT_TRUE(win && legacy);
  // Unknown fields survive (whois passes them on), compact, keys sorted (ipnd reorders them).
  EXPECT_EQ(win->hostinfoJson,
            R"({"Hostname":"win","OS":"windows","RoutableIPs":["0.0.0.0/0"],"Unknown":{"deep":[1,2]}})");
  EXPECT_EQ(legacy->hostinfoJson, "") << "no Hostinfo sent";

  // A full node in PeersChanged carries it too; a null Hostinfo is absent.
  auto d = decodeMapResponse(R"({"PeersChanged":[{"ID":5,"Key":"nodekey:)" + hex64('a') +
                             R"(","Hostinfo":{"OS":"linux","Hostname":"a\u003cb"}},{"ID":6,"Key":"nodekey:)" +
                             hex64('b') + R"(","Hostinfo":null}]})");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->peersChanged->at(0).hostinfoJson, R"({"Hostname":"a<b","OS":"linux"})");
  EXPECT_EQ(d->peersChanged->at(1).hostinfoJson, "");
}

TEST(MapDecode, HostileHostinfoIsDroppedNotFatal) {
  auto withHostinfo = [](const std::string& hi) {
    return R"({"Peers":[{"ID":5,"Key":"nodekey:)" + hex64('a') + R"(","Hostinfo":)" + hi + "}]}";
  };
  // Over 16 KiB: the JSON is dropped, the typed fields stay.
  std::string huge = R"({"Hostname":"big","OS":"linux","Junk":")" + std::string(MAX_NODE_HOSTINFO_JSON, 'x') + R"("})";
  auto r = decodeMapResponse(withHostinfo(huge));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->peers->at(0).hostinfoJson, "");
  EXPECT_EQ(r->peers->at(0).hostinfo->hostname, "big");
  // Escapes that grow past the cap only when encoded.
  std::string controls = R"({"Junk":")";
  for (size_t i = 0; i < MAX_NODE_HOSTINFO_JSON / 4; ++i) controls += R"(\u0001)";
  controls += R"("})";
  r = decodeMapResponse(withHostinfo(controls));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->peers->at(0).hostinfoJson, "");
  // Deeper than MAX_NODE_HOSTINFO_DEPTH (but within the map's own limit).
  std::string deep = R"({"Hostname":"deep","X":)" + std::string(30, '[') + std::string(30, ']') + "}";
  r = decodeMapResponse(withHostinfo(deep));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->peers->at(0).hostinfoJson, "");
  EXPECT_EQ(r->peers->at(0).hostinfo->hostname, "deep");
  // Many small members adding up past the cap.
  std::string wide = "{";
  for (int i = 0; i < 3000; ++i) wide += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":[1,2,3]";
  wide += "}";
  r = decodeMapResponse(withHostinfo(wide));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->peers->at(0).hostinfoJson, "");
}

TEST(MapDecode, KeepAliveAndCaseInsensitiveKeys) {
  auto ka = decodeMapResponse(R"({"KeepAlive":true})");
  ASSERT_TRUE(ka);
  EXPECT_TRUE(ka->keepAlive);
  auto empty = decodeMapResponse("{}");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->sawAnyField);
  auto folded = decodeMapResponse(R"({"domain":"x.ts.net","peersremoved":[1]})");
  ASSERT_TRUE(folded);
  EXPECT_EQ(folded->domain, "x.ts.net");
  EXPECT_EQ(folded->peersRemoved.size(), 1u);
}

TEST(MapDecode, SchemaViolationsAreClearErrors) {
  struct Case {
    std::string json;
    std::string expect;
  };
  const Case cases[] = {
      {"", "malformed JSON"},
      {"[]", "expected a JSON object"},
      {"42", "expected a JSON object"},
      {R"({"Peers":{}})", "Peers: expected an array of Node"},
      {R"({"Peers":[1]})", "Peers elements must be objects"},
      {R"({"Peers":[{"ID":"one"}]})", "Peers[].ID: expected an integer"},
      {R"({"Peers":[{"ID":1,"Key":"nodekey:zz"}]})", "Peers[].Key"},
      {R"({"Peers":[{"ID":1,"Addresses":["300.1.1.1/32"]}]})", "Peers[].Addresses"},
      {R"({"Peers":[{"ID":1,"DERP":"1.2.3.4:5"}]})", "Peers[].DERP"},
      {R"({"Peers":[{"ID":18446744073709551615}]})", "number out of range"},
      {R"({"Node":{"ID":1,"KeyExpiry":"tomorrow"}})", "Node.KeyExpiry"},
      {R"({"DERPMap":{"Regions":{"abc":{}}}})", "region IDs"},
      {R"({"DERPMap":{"Regions":{"0":{}}}})", "region IDs"},
      {R"({"DERPMap":{"Regions":{"1":{"Nodes":[{"DERPPort":70000}]}}}})", "DERPNode.DERPPort"},
      {R"({"PeersChangedPatch":[{"DERPRegion":1}]})", "PeerChange.NodeID"},
      {R"({"OnlineChange":{"x":true}})", "OnlineChange"},
      {R"({"PacketFilter":{}})", "PacketFilter"},
      {R"({"PacketFilter":[{"DstPorts":[{"Ports":{"First":70000}}]}]})", "PortRange.First"},
      {R"({"Domain":5})", "Domain: expected a string"},
      {R"({"KeepAlive":true} trailing)", "malformed JSON"},
      {R"({"Peers":[{"ID":1}])", "malformed JSON"},
      {std::string(100, '[') + std::string(100, ']'), "expected a JSON object"},
      {"{\"X\":" + std::string(100, '[') + std::string(100, ']') + "}", "nested too deeply"},
  };
  for (const auto& c : cases) {
    auto r = decodeMapResponse(c.json);
    ASSERT_FALSE(r) << c.json;
    EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << c.json << " → " << r.error().message;
  }
}

long vmHwmKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// 10,000 peers (~11 MB of JSON, the size BUILD-NOTES measured a DOM at +59 MB): logs time and
// the peak-RSS growth, and asserts the streaming decoder stays far below the DOM's cost.
TEST(MapDecode, TenThousandPeers) {
  std::string json = R"({"Node":{"ID":1,"Key":"nodekey:)" + hex64('1') + R"(","Addresses":["100.64.0.1/32"]},"Peers":[)";
  for (int i = 0; i < 10000; ++i) {
    char buf[1200];
    std::snprintf(buf, sizeof buf,
                  R"(%s{"ID":%d,"StableID":"n%d","Name":"peer%d.tail1234.ts.net.","User":%d,"Key":"nodekey:%064x","KeyExpiry":"2030-01-01T00:00:00Z","Machine":"mkey:%064x","DiscoKey":"discokey:%064x","Addresses":["100.64.%d.%d/32","fd7a:115c:a1e0::%x/128"],"AllowedIPs":["100.64.%d.%d/32","fd7a:115c:a1e0::%x/128"],"Endpoints":["192.0.2.%d:41641","198.51.100.%d:41641","[2001:db8::%x]:41641"],"HomeDERP":%d,"Hostinfo":{"OS":"linux","Hostname":"host%d","IPNVersion":"1.80.0","Services":[{"Proto":"peerapi4","Port":%d},{"Proto":"peerapi6","Port":%d}]},"Created":"2024-01-01T00:00:00Z","LastSeen":"2024-06-01T10:00:00Z","Online":true,"MachineAuthorized":true,"Tags":["tag:server"],"CapMap":{"https://tailscale.com/cap/file-sharing":null}})",
                  i ? "," : "", i + 2, i, i, 100 + i % 7, i + 1, i + 2, i + 3, (i >> 8) & 255, i & 255, i,
                  (i >> 8) & 255, i & 255, i, i & 255, i & 255, i, 1 + i % 20, i, 40000 + i % 1000,
                  40000 + i % 1000);
    json += buf;
  }
  json += "]}";
  long before = vmHwmKb();
  auto start = std::chrono::steady_clock::now();
  auto r = decodeMapResponse(json);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  long after = vmHwmKb();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->peers->size(), 10000u);
  EXPECT_EQ(r->peers->back().id, 10001);
  std::printf("[ decode  ] 10000 peers, %zu bytes JSON: %lld ms, VmHWM +%ld kB\n", json.size(),
              static_cast<long long>(ms), after - before);
#if !defined(__SANITIZE_ADDRESS__)
  // A DOM of the same input costs ~59 MB on top of the JSON text (BUILD-NOTES).
  EXPECT_LT(after - before, 40 * 1024);
#endif
}

}  // namespace
}  // namespace tnet::controld
