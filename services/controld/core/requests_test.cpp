#include "services/controld/core/requests.h"

#include <gtest/gtest.h>

#include "services/controld/core/capver.h"
#include "services/controld/core/go_time.h"

namespace tnet::controld {
namespace {

const std::string ZERO_HEX(64, '0');

key::NodePublic nodeKey(uint8_t fill) {
  crypto::Key32 raw;
  raw.fill(fill);
  return key::NodePublic(raw);
}

TEST(Requests, PreAuthRegisterMatchesGoShape) {
  RegisterRequest req;
  req.nodeKey = nodeKey(0xab);
  req.authKey = "tskey-auth-xyz";
  req.hostinfo.ipnVersion = "1.2.3";
  req.hostinfo.hostname = "myhost";
  auto body = registerRequestJson(req);
  std::string keyHex;
  for (int i = 0; i < 32; ++i) keyHex += "ab";
  EXPECT_EQ(body.view(),
            "{\"Version\":116,\"NodeKey\":\"nodekey:" + keyHex + "\",\"OldNodeKey\":\"nodekey:" +
                ZERO_HEX + "\",\"NLKey\":\"nlpub:" + ZERO_HEX +
                "\",\"Auth\":{\"AuthKey\":\"tskey-auth-xyz\"},\"Expiry\":\"0001-01-01T00:00:00Z\","
                "\"Followup\":\"\",\"Hostinfo\":{\"IPNVersion\":\"1.2.3\",\"OS\":\"linux\","
                "\"Hostname\":\"myhost\"},\"NodeKeySignature\":null}");
  EXPECT_EQ(CAPABILITY_VERSION, 116);
}

TEST(Requests, InteractiveFollowupAndLogout) {
  RegisterRequest req;
  req.nodeKey = nodeKey(1);
  req.followup = "https://login.example/a/b";
  req.expiry = 123;  // Go's logout expiry: time.Unix(123, 0)
  req.ephemeral = true;
  std::string body(registerRequestJson(req).view());
  EXPECT_EQ(body.find("\"Auth\""), std::string::npos) << "Auth is omitempty";
  EXPECT_NE(body.find("\"Expiry\":\"1970-01-01T00:02:03Z\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"Followup\":\"https://login.example/a/b\""), std::string::npos);
  EXPECT_NE(body.find("\"Ephemeral\":true,\"NodeKeySignature\":null}"), std::string::npos);
}

TEST(Requests, LiteAndStreamingMapRequests) {
  MapRequest base;
  base.nodeKey = nodeKey(2);
  base.hostinfo.hostname = "h";
  base.hostinfo.netInfo.emplace();
  base.hostinfo.netInfo->preferredDerp = 1;
  base.hostinfo.netInfo->workingUdp = ipn::OptBool::of(true);
  base.hostinfo.netInfo->derpLatency["1-v4"] = 0.012;
  base.endpoints = {*ipn::parseIpAddrPort("203.0.113.7:41641"), *ipn::parseIpAddrPort("[2001:db8::1]:41641")};
  base.endpointTypes = {EndpointType::STUN, EndpointType::LOCAL};
  std::string lite = mapRequestJson(liteMapRequest(base));
  std::string keyHex;
  for (int i = 0; i < 32; ++i) keyHex += "02";
  EXPECT_EQ(lite, "{\"Version\":116,\"KeepAlive\":true,\"NodeKey\":\"nodekey:" + keyHex +
                      "\",\"DiscoKey\":\"discokey:" + ZERO_HEX +
                      "\",\"Hostinfo\":{\"OS\":\"linux\",\"Hostname\":\"h\",\"NetInfo\":{"
                      "\"WorkingUDP\":true,\"PreferredDERP\":1,\"DERPLatency\":{\"1-v4\":0.012}}},"
                      "\"Endpoints\":[\"203.0.113.7:41641\",\"[2001:db8::1]:41641\"],"
                      "\"EndpointTypes\":[2,1],\"OmitPeers\":true}");
  std::string stream = mapRequestJson(streamingMapRequest(base, true));
  EXPECT_EQ(stream.rfind("{\"Version\":116,\"Compress\":\"zstd\",\"KeepAlive\":true,", 0), 0u) << stream;
  EXPECT_NE(stream.find("\"Stream\":true,\"Hostinfo\""), std::string::npos);
  EXPECT_EQ(stream.find("OmitPeers"), std::string::npos);
  EXPECT_EQ(mapRequestJson(streamingMapRequest(base, false)).find("Compress"), std::string::npos);
}

TEST(Requests, HostinfoFullFieldOrder) {
  Hostinfo h;
  h.ipnVersion = "v";
  h.backendLogId = "b";
  h.osVersion = "6.1";
  h.hostname = "n";
  h.shieldsUp = true;
  h.routableIps = {*ipn::parseIpPrefix("10.0.0.0/24"), *ipn::parseIpPrefix("0.0.0.0/0")};
  h.requestTags = {"tag:b", "tag:a", "tag:b"};
  h.services = {{"peerapi4", 12345, ""}, {"tcp", 22, "sshd"}};
  h.sshHostKeys = {"ssh-ed25519 AAAA"};
  h.userspace = ipn::OptBool::of(false);
  EXPECT_EQ(ipn::goMarshal(hostinfoToJson(h)),
            "{\"IPNVersion\":\"v\",\"BackendLogID\":\"b\",\"OS\":\"linux\",\"OSVersion\":\"6.1\","
            "\"Hostname\":\"n\",\"ShieldsUp\":true,\"RoutableIPs\":[\"10.0.0.0/24\",\"0.0.0.0/0\"],"
            "\"RequestTags\":[\"tag:a\",\"tag:b\"],\"Services\":[{\"Proto\":\"peerapi4\",\"Port\":12345},"
            "{\"Proto\":\"tcp\",\"Port\":22,\"Description\":\"sshd\"}],"
            "\"sshHostKeys\":[\"ssh-ed25519 AAAA\"],\"Userspace\":false}");
}

TEST(GoTime, ParseAndFormat) {
  EXPECT_EQ(*parseGoTime("1970-01-01T00:02:03Z"), std::optional<int64_t>(123));
  EXPECT_EQ(*parseGoTime("2024-02-29T12:00:00.123456789+01:00"), std::optional<int64_t>(1709204400));
  EXPECT_EQ(*parseGoTime("0001-01-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(formatGoTime(1709204400), "2024-02-29T11:00:00Z");
  EXPECT_EQ(formatGoTime(std::nullopt), "0001-01-01T00:00:00Z");
  for (const char* bad : {"", "2023-02-29T00:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00",
                          "2024-13-01T00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00Zjunk"}) {
    EXPECT_FALSE(parseGoTime(bad)) << bad;
  }
}

}  // namespace
}  // namespace tnet::controld
