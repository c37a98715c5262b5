#include "services/ipnd/core/peer_query.h"

#include <gtest/gtest.h>

#include "libs/ipn/go_json.h"

namespace tnet::ipnd {
namespace {

NetmapFacts twoNodes() {
  NetmapFacts nm;
  NodeFacts self;
  self.id = 1;
  self.stableId = "nSELF";
  self.name = "a.example.ts.net.";
  self.userId = 7;
  self.key = "nodekey:" + std::string(64, 'a');
  self.addresses = {"100.64.0.1/32", "fd7a:115c:a1e0::1/128"};
  nm.self = self;
  NodeFacts b;
  b.id = 2;
  b.stableId = "nB";
  b.name = "b.example.ts.net.";
  b.userId = 7;
  b.key = "nodekey:" + std::string(64, 'b');
  b.discoKey = "discokey:" + std::string(64, 'c');
  b.addresses = {"100.64.0.2/32"};
  b.allowedIps = {"100.64.0.2/32", "10.1.0.0/16"};
  b.endpoints = {"10.99.2.2:41641"};
  b.homeDerp = 1;
  b.hasHostinfo = true;
  b.hostname = "bee";
  b.os = "linux";
  b.createdUnix = 1700000000;
  nm.peers.push_back(b);
  NodeFacts tagged = b;
  tagged.id = 3;
  tagged.name = "";
  tagged.hostname = "router";
  tagged.addresses = {"100.64.0.3/32"};
  tagged.allowedIps = {"100.64.0.3/32", "10.1.2.0/24"};
  tagged.tags = {"tag:server"};
  tagged.userId = 99;
  nm.peers.push_back(tagged);
  nm.users.push_back({7, "alice@example.com", "Alice", "", std::nullopt});
  nm.derpRegionCodes = {{1, "tst"}, {10, "far"}};
  nm.derpRegionNames = {{1, "Test Region"}};
  return nm;
}

LocalApiRequest post(std::string query) {
  LocalApiRequest r;
  r.method = "POST";
  r.path = "/localapi/v0/ping";
  r.query = std::move(query);
  return r;
}

TEST(PeerQuery, PeerForIpPrefersAddressesThenLongestRoute) {
  auto nm = twoNodes();
  auto self = peerForIp(nm, "100.64.0.1");
  ASSERT_TRUE(self);
  EXPECT_TRUE(self->isSelf);
  EXPECT_EQ(peerForIp(nm, "100.64.0.2")->node->id, 2);
  EXPECT_EQ(peerForIp(nm, "10.1.2.5")->node->id, 3);  // /24 beats /16
  EXPECT_EQ(peerForIp(nm, "10.1.9.9")->node->id, 2);
  EXPECT_FALSE(peerForIp(nm, "10.2.0.1"));
  EXPECT_FALSE(peerForIp(nm, "not-an-ip"));
}

TEST(PeerQuery, PingRequestErrorsAsGo) {
  auto nm = std::optional<NetmapFacts>(twoNodes());
  LocalApiRequest get = post("ip=100.64.0.2&type=disco");
  get.method = "GET";
  EXPECT_EQ(decidePing(get, nm).answer->status, 400);
  EXPECT_EQ(decidePing(get, nm).answer->body, "want POST\n");
  EXPECT_EQ(decidePing(post("type=disco"), nm).answer->body, "missing 'ip' parameter\n");
  EXPECT_EQ(decidePing(post("ip=1.2.3&type=disco"), nm).answer->body, "invalid IP\n");
  EXPECT_EQ(decidePing(post("ip=100.64.0.2"), nm).answer->body, "missing 'type' parameter\n");
}

TEST(PeerQuery, PingUnknownAndSelfAnswerAPingResult) {
  auto nm = std::optional<NetmapFacts>(twoNodes());
  auto unknown = decidePing(post("ip=100.99.0.9&type=disco"), nm);
  ASSERT_TRUE(unknown.answer);
  EXPECT_EQ(unknown.answer->status, 200);
  EXPECT_EQ(unknown.answer->body,
            "{\"IP\":\"100.99.0.9\",\"NodeIP\":\"\",\"NodeName\":\"\",\"Err\":\"no matching peer\","
            "\"LatencySeconds\":0,\"Endpoint\":\"\",\"PeerRelay\":\"\",\"DERPRegionID\":0,\"DERPRegionCode\":\"\"}\n");
  auto self = decidePing(post("ip=100.64.0.1&type=disco"), nm);
  EXPECT_NE(self.answer->body.find("\"Err\":\"100.64.0.1 is local Tailscale IP\""), std::string::npos);
  EXPECT_NE(self.answer->body.find("\"IsLocalIP\":true"), std::string::npos);
  auto none = decidePing(post("ip=100.64.0.2&type=disco"), std::nullopt);
  EXPECT_NE(none.answer->body.find("no matching peer"), std::string::npos);
}

TEST(PeerQuery, DiscoPingPlansAMagicsockCall) {
  auto nm = std::optional<NetmapFacts>(twoNodes());
  auto d = decidePing(post("ip=100.64.0.2&type=disco&size=0"), nm);
  ASSERT_FALSE(d.answer);
  EXPECT_EQ(d.plan.nodePublic, "nodekey:" + std::string(64, 'b'));
  EXPECT_EQ(d.plan.partial.nodeName, "b");
  EXPECT_EQ(d.plan.partial.nodeIp, "100.64.0.2");
  // A subnet IP is pinged via its router, named by host name when it has no name.
  auto sub = decidePing(post("ip=10.1.2.9&type=disco"), nm);
  ASSERT_FALSE(sub.answer);
  EXPECT_EQ(sub.plan.partial.ip, "10.1.2.9");
  EXPECT_EQ(sub.plan.partial.nodeIp, "100.64.0.3");
  EXPECT_EQ(sub.plan.partial.nodeName, "router");
  EXPECT_EQ(d.plan.type, PingType::DISCO);
  // peerapi (no PeerAPI server here) and unknown types are refused with a PingResult error.
  auto peerapi = decidePing(post("ip=100.64.0.2&type=peerapi"), nm);
  ASSERT_TRUE(peerapi.answer);
  EXPECT_NE(peerapi.answer->body.find("\"Err\":\"ping type \\\"peerapi\\\" is not supported by tailnetd\""),
            std::string::npos)
      << peerapi.answer->body;
}

TEST(PeerQuery, TsmpAndIcmpPingsPlanAWgdCallWithGosNaming) {
  auto nm = std::optional<NetmapFacts>(twoNodes());
  nm->magicDnsSuffix = "example.ts.net";
  for (auto [query, type] : {std::pair{"ip=100.64.0.2&type=TSMP", PingType::TSMP},
                             std::pair{"ip=100.64.0.2&type=ICMP", PingType::ICMP}}) {
    auto d = decidePing(post(query), nm);
    ASSERT_FALSE(d.answer) << query;
    EXPECT_EQ(d.plan.type, type);
    EXPECT_EQ(d.plan.nodePublic, "nodekey:" + std::string(64, 'b'));
    // Go's engine fills NodeIP/NodeName only when the answer comes.
    EXPECT_EQ(d.plan.partial.nodeIp, "");
    EXPECT_EQ(d.plan.partial.nodeName, "");
    EXPECT_EQ(d.plan.nodeName, "b");  // ComputedName: the name without the tailnet suffix
    PingResult ok = pingSucceeded(d.plan, 1'500'000, 0x1f90);
    EXPECT_EQ(ok.nodeIp, "100.64.0.2");
    EXPECT_EQ(ok.peerApiPort, type == PingType::TSMP ? 0x1f90 : 0);
    std::string want = std::string("{\"IP\":\"100.64.0.2\",\"NodeIP\":\"100.64.0.2\",\"NodeName\":\"b\",\"Err\":\"\",") +
                       "\"LatencySeconds\":0.0015,\"Endpoint\":\"\",\"PeerRelay\":\"\",\"DERPRegionID\":0,\"DERPRegionCode\":\"\"" +
                       (type == PingType::TSMP ? ",\"PeerAPIPort\":8080" : "") + "}\n";
    EXPECT_EQ(pingResultJson(ok), want);
  }
  // A subnet IP: NodeIP is the pinged IP (Go sets res.NodeIP = ip), the name is the router's.
  auto sub = decidePing(post("ip=10.1.2.9&type=ICMP"), nm);
  ASSERT_FALSE(sub.answer);
  EXPECT_EQ(pingSucceeded(sub.plan, 1, 0).nodeIp, "10.1.2.9");
  EXPECT_EQ(sub.plan.nodeName, "router");
  // Go's size checks come first.
  EXPECT_EQ(decidePing(post("ip=100.64.0.2&type=TSMP&size=10"), nm).answer->body,
            "'size' parameter is only supported with disco pings\n");
  EXPECT_EQ(decidePing(post("ip=100.64.0.2&type=TSMP&size=x"), nm).answer->body, "invalid 'size' parameter\n");
  EXPECT_FALSE(decidePing(post("ip=100.64.0.2&type=TSMP&size=0"), nm).answer);
  // Self and unknown IPs are answered without wgd, as for disco.
  EXPECT_NE(decidePing(post("ip=100.64.0.1&type=TSMP"), nm).answer->body.find("is local Tailscale IP"),
            std::string::npos);
  EXPECT_NE(decidePing(post("ip=100.99.0.9&type=ICMP"), nm).answer->body.find("no matching peer"), std::string::npos);
}

TEST(PeerQuery, ComputedNameAsGo) {
  NodeFacts n;
  n.key = "nodekey:" + std::string(64, 'c');
  n.name = "host.example.ts.net.";
  EXPECT_EQ(computedName(n, "example.ts.net"), "host");
  n.name = "shared.other.ts.net.";  // a node shared in from another tailnet keeps its FQDN
  EXPECT_EQ(computedName(n, "example.ts.net"), "shared.other.ts.net");
  n.name = "";
  n.hostname = "Box.local";
  EXPECT_EQ(computedName(n, "example.ts.net"), n.key) << "no Hostinfo from control: no host name";
  n.hasHostinfo = true;
  EXPECT_EQ(computedName(n, "example.ts.net"), "box") << "dnsname.SanitizeHostname";
  n.hostname = "";
  EXPECT_EQ(computedName(n, "example.ts.net"), n.key);
}

TEST(PeerQuery, PingResultJsonOfAPong) {
  PingResult r;
  r.ip = "100.64.0.2";
  r.nodeIp = "100.64.0.2";
  r.nodeName = "b";
  r.latencySeconds = 0.0125;
  r.derpRegionId = 1;
  r.derpRegionCode = "tst";
  EXPECT_EQ(pingResultJson(r),
            "{\"IP\":\"100.64.0.2\",\"NodeIP\":\"100.64.0.2\",\"NodeName\":\"b\",\"Err\":\"\","
            "\"LatencySeconds\":0.0125,\"Endpoint\":\"\",\"PeerRelay\":\"\",\"DERPRegionID\":1,\"DERPRegionCode\":\"tst\"}\n");
}

LocalApiRequest whois(std::string query) {
  LocalApiRequest r;
  r.method = "GET";
  r.path = "/localapi/v0/whois";
  r.query = std::move(query);
  return r;
}

TEST(PeerQuery, WhoIsAnswersNodeAndUser) {
  auto nm = std::optional<NetmapFacts>(twoNodes());
  auto res = serveWhoIs(whois("addr=100.64.0.2:443"), nm);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.contentType, "application/json");
  auto j = nlohmann::json::parse(res.body);
  EXPECT_EQ(j["Node"]["ID"], 2);
  EXPECT_EQ(j["Node"]["StableID"], "nB");
  EXPECT_EQ(j["Node"]["Name"], "b.example.ts.net.");
  EXPECT_EQ(j["Node"]["Addresses"], nlohmann::json::array({"100.64.0.2/32"}));
  EXPECT_EQ(j["Node"]["Hostinfo"]["Hostname"], "bee");
  EXPECT_EQ(j["Node"]["Created"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(j["UserProfile"]["LoginName"], "alice@example.com");
  EXPECT_EQ(j["UserProfile"]["ID"], 7);
  EXPECT_EQ(res.body.substr(0, 11), "{\n\t\"Node\": ");  // MarshalIndent with tabs
  EXPECT_EQ(serveWhoIs(whois("addr=100.64.0.1"), nm).status, 200);  // self too
  // Go's WhoIs fails when the node's user has no profile (here: user 99 of the tagged node).
  EXPECT_EQ(serveWhoIs(whois("addr=100.64.0.3"), nm).status, 404);
  nm->users.push_back({99, "tagged-devices", "Tagged Devices", "", std::nullopt});
  auto tagged = nlohmann::json::parse(serveWhoIs(whois("addr=100.64.0.3"), nm).body);
  EXPECT_EQ(tagged["Node"]["Tags"], nlohmann::json::array({"tag:server"}));
  EXPECT_EQ(tagged["UserProfile"]["ID"], 99);
  // Without the Hostinfo JSON (over controld's cap) the host name and OS remain, in Go's order.
  EXPECT_EQ(tagged["Node"]["Hostinfo"].dump(), R"({"Hostname":"router","OS":"linux"})");  // nlohmann sorts
  EXPECT_NE(serveWhoIs(whois("addr=100.64.0.3"), nm).body.find("\"Hostinfo\": {\n\t\t\t\"OS\": \"linux\",\n\t\t\t\"Hostname\": \"router\"\n\t\t}"),
            std::string::npos);
  // CapMap is always written (no omitempty); null without grants.
  std::string body = serveWhoIs(whois("addr=100.64.0.2"), nm).body;
  EXPECT_TRUE(body.ends_with("\n\t},\n\t\"CapMap\": null\n}")) << body;
}

NodeFacts richPeer() {
  NodeFacts b;
  b.id = 2;
  b.stableId = "nB";
  b.name = "bee.example.ts.net.";
  b.userId = 7;
  b.key = "nodekey:" + std::string(64, 'b');
  b.keyExpiryUnix = 1893456000;
  b.machine = "mkey:" + std::string(64, 'd');
  b.discoKey = "discokey:" + std::string(64, 'c');
  b.addresses = {"100.64.0.2/32", "fd7a:115c:a1e0::2/128"};
  b.allowedIps = {"100.64.0.2/32", "fd7a:115c:a1e0::2/128", "10.1.0.0/16"};
  b.endpoints = {"10.99.2.2:41641"};
  b.homeDerp = 1;
  b.hasHostinfo = true;
  b.hostname = "Bee Host.local";
  b.os = "linux";
  // As controld keeps it (keys sorted): zero values, a null opt.Bool, unknown fields, a
  // lower-case key and HTML characters that Go escapes.
  b.hostinfoJson =
      R"({"App":"","BackendLogID":"blog","Container":false,"DERPFuture":1,"Desktop":null,"Distro":"debian",)"
      R"("DistroCodeName":"bookworm","DistroVersion":"12.5","GoArch":"amd64","GoVersion":"go1.23.1",)"
      R"("Hostname":"Bee Host.local","IPNVersion":"1.76.1-t123","Location":{"City":"Squamish","Country":"Canada",)"
      R"("CountryCode":"CA","Latitude":49.7,"Longitude":-123.15,"Priority":0},"Machine":"x86_64",)"
      R"("NetInfo":{"DERPLatency":{"1-v4":0.0123,"1-v6":2.0},"Future":"x","HavePortMap":false,"LinkType":"wired",)"
      R"("PreferredDERP":1,"UPnP":false,"WorkingUDP":true},"OS":"linux",)"
      R"("OSVersion":"Debian 12.5 (bookworm); kernel=6.1.0","RoutableIPs":["10.1.0.0/16"],)"
      R"("Services":[{"Port":41641,"Proto":"peerapi4"},{"Description":"sshd","Port":22,"Proto":"tcp"}],)"
      R"("ShieldsUp":false,"Unknown":{"a":[1]},"Userspace":false,"WoLMACs":[],"sshhostkeys":["ssh-ed25519 AAAA<x>"]})";
  b.createdUnix = 1700000000;
  b.cap = 106;
  b.primaryRoutes = {"10.1.0.0/16"};
  b.lastSeenUnix = 1700000100;
  b.online = true;
  b.machineAuthorized = true;
  return b;
}

TEST(PeerQuery, WhoIsNodeIsGoTailcfgNode) {
  // Golden written from tailcfg.go's Node/Hostinfo/NetInfo/Service/Location declarations and
  // their omitempty/omitzero tags (Go 2026-08), as json.Marshal writes the decoded node.
  const std::string golden =
      R"({"ID":2,"StableID":"nB","Name":"bee.example.ts.net.","User":7,"Key":"nodekey:)" + std::string(64, 'b') +
      R"(","KeyExpiry":"2030-01-01T00:00:00Z","Machine":"mkey:)" + std::string(64, 'd') +
      R"(","DiscoKey":"discokey:)" + std::string(64, 'c') +
      R"(","Addresses":["100.64.0.2/32","fd7a:115c:a1e0::2/128"],)"
      R"("AllowedIPs":["100.64.0.2/32","fd7a:115c:a1e0::2/128","10.1.0.0/16"],"Endpoints":["10.99.2.2:41641"],"HomeDERP":1,)"
      R"("Hostinfo":{"IPNVersion":"1.76.1-t123","BackendLogID":"blog","OS":"linux",)"
      R"("OSVersion":"Debian 12.5 (bookworm); kernel=6.1.0","Container":false,"Distro":"debian","DistroVersion":"12.5",)"
      R"("DistroCodeName":"bookworm","Hostname":"Bee Host.local","Machine":"x86_64","GoArch":"amd64","GoVersion":"go1.23.1",)"
      R"("RoutableIPs":["10.1.0.0/16"],"Services":[{"Proto":"peerapi4","Port":41641},{"Proto":"tcp","Port":22,"Description":"sshd"}],)"
      R"("NetInfo":{"WorkingUDP":true,"UPnP":false,"PreferredDERP":1,"LinkType":"wired","DERPLatency":{"1-v4":0.0123,"1-v6":2}},)"
      R"("sshHostKeys":["ssh-ed25519 AAAA\u003cx\u003e"],"Userspace":false,)"
      R"("Location":{"Country":"Canada","CountryCode":"CA","City":"Squamish","Latitude":49.7,"Longitude":-123.15}},)"
      R"("Created":"2023-11-14T22:13:20Z","Cap":106,"PrimaryRoutes":["10.1.0.0/16"],"LastSeen":"2023-11-14T22:15:00Z",)"
      R"x("Online":true,"MachineAuthorized":true,"ComputedName":"bee","ComputedNameWithHost":"bee (bee-host)"})x";
  EXPECT_EQ(whoIsNodeJson(richPeer(), "example.ts.net", false), golden);

  // Through the LocalAPI: the same node, MarshalIndent with tabs, then UserProfile and CapMap.
  NetmapFacts nm = twoNodes();
  nm.magicDnsSuffix = "example.ts.net";
  nm.peers[0] = richPeer();
  auto res = serveWhoIs(whois("addr=100.64.0.2"), nm);
  ASSERT_EQ(res.status, 200) << res.body;
  auto parsed = nlohmann::ordered_json::parse(res.body);
  EXPECT_EQ(ipn::goMarshal(parsed["Node"]), golden);
  EXPECT_NE(res.body.find("\n\t\t\"Hostinfo\": {\n\t\t\t\"IPNVersion\": \"1.76.1-t123\",\n"), std::string::npos) << res.body;
  EXPECT_TRUE(res.body.ends_with(
      "\n\t\"UserProfile\": {\n\t\t\"ID\": 7,\n\t\t\"LoginName\": \"alice@example.com\",\n\t\t\"DisplayName\": \"Alice\"\n\t},"
      "\n\t\"CapMap\": null\n}"))
      << res.body;
  // By node key (any hex case) and by an IPv4-mapped address, as Go's handler.
  EXPECT_EQ(serveWhoIs(whois("addr=nodekey:" + std::string(64, 'B')), nm).body, res.body);
  EXPECT_EQ(serveWhoIs(whois("addr=%3A%3Affff%3A100.64.0.2"), nm).body, res.body);
  EXPECT_EQ(serveWhoIs(whois("addr=[::ffff:100.64.0.2]:80"), nm).body, res.body);
  EXPECT_EQ(serveWhoIs(whois("addr=nodekey:" + std::string(64, 'e')), nm).status, 404);
  EXPECT_EQ(serveWhoIs(whois("addr=nodekey:zz"), nm).body, "invalid nodekey in 'addr' parameter\n");

  // A node without Hostinfo has no Hostinfo key; zero keys and times are left out (omitzero);
  // no name falls back to the host name, then the key.
  NodeFacts bare;
  bare.id = 9;
  bare.key = "nodekey:" + std::string(64, '9');
  bare.machine = "mkey:" + std::string(64, '0');
  EXPECT_EQ(whoIsNodeJson(bare, "example.ts.net", false),
            R"({"ID":9,"StableID":"","Name":"","User":0,"Key":"nodekey:)" + std::string(64, '9') +
                R"(","Addresses":null,"ComputedName":"nodekey:)" + std::string(64, '9') +
                R"(","ComputedNameWithHost":"nodekey:)" + std::string(64, '9') + R"("})");
  bare.hasHostinfo = true;
  bare.hostname = "My_Laptop.lan";
  bare.hostinfoJson = "not json";  // defensive: falls back to the typed fields
  EXPECT_EQ(displayNames(bare, "example.ts.net"), std::make_pair(std::string("my-laptop"), std::string("my-laptop")));
  EXPECT_NE(whoIsNodeJson(bare, "", false).find(R"("Hostinfo":{"Hostname":"My_Laptop.lan"})"), std::string::npos);
}

TEST(PeerQuery, WhoIsErrorsAsGo) {
  auto nm = std::optional<NetmapFacts>(twoNodes());
  auto none = serveWhoIs(whois("addr=100.64.0.9"), nm);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.body, "no match for IP:port\n");
  EXPECT_EQ(serveWhoIs(whois("addr=10.1.2.3"), nm).status, 404);  // routes are not nodes
  EXPECT_EQ(serveWhoIs(whois(""), nm).body, "missing 'addr' parameter\n");
  EXPECT_EQ(serveWhoIs(whois("addr=bogus"), nm).body, "invalid 'addr' parameter\n");
  EXPECT_EQ(serveWhoIs(whois("addr=100.64.0.2"), std::nullopt).status, 404);
}

TEST(PeerQuery, NetcheckReportJsonAsGo) {
  NetcheckFacts f;
  f.udp = true;
  f.ipv4 = true;
  f.globalV4 = "10.99.1.2:41641";
  f.mappingVariesByDestIp = 0;
  f.preferredDerp = 1;
  f.regionLatency = {{10, 30000000}, {1, 1500000}};
  f.nowUnixNano = 1700000000123000000;
  EXPECT_EQ(netcheckReportJson(f),
            "{\"Now\":\"2023-11-14T22:13:20.123Z\",\"UDP\":true,\"IPv6\":false,\"IPv4\":true,\"MappingVariesByDestIP\":false,\"HairPinning\":null,"
            "\"PreferredDERP\":1,\"RegionLatency\":{\"1\":1500000,\"10\":30000000},\"RegionV4Latency\":{},"
            "\"RegionV6Latency\":{},\"GlobalV4\":\"10.99.1.2:41641\",\"GlobalV6\":\"\",\"CaptivePortal\":null}");
  auto nm = std::optional<NetmapFacts>(twoNodes());
  auto res = netcheckAnswer(f, nm);
  auto j = nlohmann::json::parse(res.body);
  EXPECT_EQ(j["Regions"]["1"]["RegionName"], "Test Region");
  EXPECT_EQ(j["Regions"]["10"]["RegionCode"], "far");
  EXPECT_EQ(j["Report"]["PreferredDERP"], 1);
}

}  // namespace
}  // namespace tnet::ipnd
