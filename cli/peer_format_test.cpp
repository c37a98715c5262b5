#include "cli/peer_format.h"

#include <gtest/gtest.h>

namespace tnet::cli {
namespace {

using Json = nlohmann::json;

Json status() {
  return Json::parse(R"({
    "BackendState": "Running",
    "Self": {"DNSName": "a.example.ts.net.", "HostName": "a", "TailscaleIPs": ["100.64.0.1", "fd7a::1"]},
    "Peer": {
      "nodekey:b": {"DNSName": "b.example.ts.net.", "HostName": "bee", "TailscaleIPs": ["100.64.0.2"]},
      "nodekey:c": {"DNSName": "", "HostName": "noip", "TailscaleIPs": []}
    }
  })");
}

TEST(PeerFormat, PingTargetResolvesNamesAsGo) {
  auto st = status();
  EXPECT_EQ((*pingTargetFromArg(st, "b"))->ip, "100.64.0.2");
  EXPECT_EQ((*pingTargetFromArg(st, "B"))->ip, "100.64.0.2");  // EqualFold
  EXPECT_EQ((*pingTargetFromArg(st, "b.example.ts.net."))->ip, "100.64.0.2");
  EXPECT_EQ((*pingTargetFromArg(st, "bee"))->ip, "100.64.0.2");
  EXPECT_EQ((*pingTargetFromArg(st, "100.99.1.1"))->ip, "100.99.1.1");  // IPs as given
  EXPECT_FALSE((*pingTargetFromArg(st, "100.99.1.1"))->self);
  auto self = *pingTargetFromArg(st, "a");
  ASSERT_TRUE(self);
  EXPECT_TRUE(self->self);
  EXPECT_EQ(self->ip, "100.64.0.1");
  EXPECT_FALSE(*pingTargetFromArg(st, "nobody"));
  auto noIp = pingTargetFromArg(st, "noip");
  ASSERT_FALSE(noIp);
  EXPECT_EQ(noIp.error().message, "node found but lacks an IP");
}

TEST(PeerFormat, PongLinesAsGo) {
  auto derp = Json::parse(R"({"IP":"100.64.0.2","NodeIP":"100.64.0.2","NodeName":"b","Err":"",
    "LatencySeconds":0.0234567,"Endpoint":"","DERPRegionID":1,"DERPRegionCode":"tst"})");
  EXPECT_EQ(*formatPong(derp, "disco"), "pong from b (100.64.0.2) via DERP(tst) in 23ms\n");
  auto direct = Json::parse(R"({"IP":"100.64.0.2","NodeIP":"100.64.0.2","NodeName":"b","Err":"",
    "LatencySeconds":0.0015,"Endpoint":"10.99.2.2:41641","DERPRegionID":0,"DERPRegionCode":""})");
  EXPECT_EQ(*formatPong(direct, "disco"), "pong from b (100.64.0.2) via 10.99.2.2:41641 in 2ms\n");
  auto slow = direct;
  slow["LatencySeconds"] = 1.2344;
  EXPECT_EQ(*formatPong(slow, "disco"), "pong from b (100.64.0.2) via 10.99.2.2:41641 in 1.234s\n");
  auto tsmp = Json::parse(R"({"NodeIP":"100.64.0.2","NodeName":"b","LatencySeconds":0,"PeerAPIPort":4567})");
  EXPECT_EQ(*formatPong(tsmp, "TSMP"), "pong from b (100.64.0.2, 4567) via TSMP in 0s\n");
  auto err = Json::parse(R"({"IP":"100.64.0.9","Err":"no matching peer"})");
  ASSERT_FALSE(formatPong(err, "disco"));
  EXPECT_EQ(formatPong(err, "disco").error().message, "no matching peer");
  EXPECT_FALSE(formatPong(Json::array(), "disco"));
}

TEST(PeerFormat, RoundingAsGoDuration) {
  EXPECT_EQ(roundedNanos(1500000, 1000000), "2ms");
  EXPECT_EQ(roundedNanos(1499999, 1000000), "1ms");
  EXPECT_EQ(roundedNanos(12345678, 100000), "12.3ms");
  EXPECT_EQ(roundedNanos(400000, 1000000), "0s");
}

TEST(PeerFormat, WhoIsAsGo) {
  auto who = Json::parse(R"({"Node":{"Name":"b.example.ts.net.","StableID":"nB",
    "Addresses":["100.64.0.2/32","fd7a::2/128"]},"UserProfile":{"ID":7,"LoginName":"alice@example.com"}})");
  EXPECT_EQ(formatWhoIs(who),
            "Machine:\n"
            "  Name:          b.example.ts.net\n"
            "  ID:            nB\n"
            "  Addresses:     [100.64.0.2/32 fd7a::2/128]\n"
            "User:\n"
            "  Name:     alice@example.com\n"
            "  ID:       7\n");
  who["Node"]["Tags"] = {"tag:a", "tag:b"};
  EXPECT_EQ(formatWhoIs(who),
            "Machine:\n"
            "  Name:          b.example.ts.net\n"
            "  ID:            nB\n"
            "  Addresses:     [100.64.0.2/32 fd7a::2/128]\n"
            "  Tags:          tag:a, tag:b\n");
  EXPECT_EQ(formatWhoIs(Json::object()).substr(0, 9), "Machine:\n");  // garbage → empty fields
}

TEST(PeerFormat, WhoIsRoutesAndCapabilitiesAsGo) {
  auto who = Json::parse(R"({"Node":{"Name":"b.example.ts.net.","StableID":"nB",
    "Addresses":["100.64.0.2/32","fd7a::2/128"],"AllowedIPs":["100.64.0.2/32","fd7a::2/128","10.1.0.0/16","0.0.0.0/0"]},
    "UserProfile":{"ID":7,"LoginName":"alice@example.com"},
    "CapMap":{"https://tailscale.com/cap/x":[{"b":1,"a":"<"}],"plain":null}})");
  EXPECT_EQ(formatWhoIs(who),
            "Machine:\n"
            "  Name:           b.example.ts.net\n"
            "  ID:             nB\n"
            "  Addresses:      [100.64.0.2/32 fd7a::2/128]\n"
            "  AllowedIPs:     [10.1.0.0/16 0.0.0.0/0]\n"
            "User:\n"
            "  Name:     alice@example.com\n"
            "  ID:       7\n"
            "Capabilities:\n"
            "  - https://tailscale.com/cap/x:\n"
            "      [\n"
            "        {\n"
            "          \"a\": \"\\u003c\",\n"
            "          \"b\": 1\n"
            "        }\n"
            "      ]\n"
            "  - plain\n");
  who["CapMap"] = nullptr;  // what tailnetd sends without grants: no block
  EXPECT_EQ(formatWhoIs(who).find("Capabilities"), std::string::npos);
}

TEST(PeerFormat, WhoIsJsonAsGoEncoder) {
  std::string body = "{\n\t\"Node\": {\n\t\t\"ID\": 2,\n\t\t\"Hostinfo\": {\n\t\t\t\"OS\": \"a\\u003cb\",\n\t\t\t\"L\": 2.5,\n"
                     "\t\t\t\"M\": 2.0\n\t\t},\n\t\t\"Addresses\": [],\n\t\t\"Services\": {}\n\t},\n\t\"CapMap\": null\n}";
  auto out = formatWhoIsJson(body);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            "{\n  \"Node\": {\n    \"ID\": 2,\n    \"Hostinfo\": {\n      \"OS\": \"a\\u003cb\",\n      \"L\": 2.5,\n"
            "      \"M\": 2\n    },\n    \"Addresses\": [],\n    \"Services\": {}\n  },\n  \"CapMap\": null\n}\n");
  EXPECT_FALSE(formatWhoIsJson("not json"));
  EXPECT_FALSE(formatWhoIsJson("[1]"));
}

TEST(PeerFormat, NetcheckReportAsGo) {
  auto answer = Json::parse(R"({"Report":{"Now":"2026-11-27T03:00:00.5Z","UDP":true,"IPv6":false,"IPv4":true,"MappingVariesByDestIP":false,
    "HairPinning":null,"PreferredDERP":1,"RegionLatency":{"1":1520000,"2":30040000},"RegionV4Latency":{},
    "RegionV6Latency":{},"GlobalV4":"10.99.1.2:41641","GlobalV6":"","CaptivePortal":null},
    "Regions":{"1":{"RegionCode":"tst","RegionName":"Test"},"2":{"RegionCode":"far","RegionName":"Far Away"},
               "3":{"RegionCode":"nop","RegionName":"Unmeasured"}}})");
  EXPECT_EQ(formatNetcheck(answer, false, false),
            "\nReport:\n"
            "\t* Time: 2026-11-27T03:00:00.5Z\n"
            "\t* UDP: true\n"
            "\t* IPv4: yes, 10.99.1.2:41641\n"
            "\t* IPv6: no, unavailable in OS\n"
            "\t* MappingVariesByDestIP: false\n"
            "\t* PortMapping: \n"
            "\t* Nearest DERP: Test\n"
            "\t* DERP latency:\n"
            "\t\t- tst: 1.5ms   (Test)\n"
            "\t\t- far: 30ms    (Far Away)\n"
            "\t\t- nop:         (Unmeasured)\n");
  answer["Report"]["RegionLatency"] = Json::object();
  answer["Report"]["UDP"] = false;
  answer["Report"]["GlobalV4"] = "";
  std::string none = formatNetcheck(answer, true, false);
  EXPECT_NE(none.find("\t* UDP: false\n\t* IPv4: (no addr found)\n\t* IPv6: no, but OS has support\n"),
            std::string::npos);
  EXPECT_NE(none.find("\t* Nearest DERP: unknown (no response to latency probes)\n"), std::string::npos);
}

}  // namespace
}  // namespace tnet::cli
