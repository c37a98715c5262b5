#include "services/ipnd/core/peer_query.h"

#include <gtest/gtest.h>

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
  n.hostname = "box";
  EXPECT_EQ(computedName(n, "example.ts.net"), "box");
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
  auto tagged = nlohmann::json::parse(serveWhoIs(whois("addr=100.64.0.3"), nm).body);
  EXPECT_EQ(tagged["Node"]["Tags"], nlohmann::json::array({"tag:server"}));
  EXPECT_EQ(tagged["UserProfile"]["ID"], 0);
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
