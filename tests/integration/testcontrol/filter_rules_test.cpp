#include "tests/integration/testcontrol/filter_rules.h"

#include <gtest/gtest.h>

#include "services/controld/core/map_decode.h"

namespace tnet::testcontrol {
namespace {

std::string encoded(std::string_view body) {
  auto r = parseFilterRules(body);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message) << " for " << body;
  return r ? ipn::goMarshal(*r) : "";
}

std::string errorOf(std::string_view body) {
  auto r = parseFilterRules(body);
  EXPECT_FALSE(r.has_value()) << "accepted " << body;
  return r ? "" : r.error().message;
}

TEST(FilterRules, ReencodedInGoFieldOrderWithOmitempty) {
  // Go: json.Marshal of the tailcfg.FilterRule values these decode to.
  EXPECT_EQ(encoded(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])"),
            R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])");
  // Keys case-insensitive, unknown fields dropped, members reordered, empty lists omitted.
  EXPECT_EQ(
      encoded(R"([{"ipproto":[17,6],"Comment":"x","dstports":[{"ports":{"last":90,"first":80},"bits":32,)"
              R"("ip":"100.64.0.1"}],"SrcBits":[],"srcips":["100.64.0.2"]}])"),
      R"([{"SrcIPs":["100.64.0.2"],"DstPorts":[{"IP":"100.64.0.1","Bits":32,"Ports":{"First":80,"Last":90}}],)"
      R"("IPProto":[17,6]}])");
  // Go's zero PortRange when Ports is absent or null (port 0 only), and the deprecated SrcBits.
  EXPECT_EQ(
      encoded(R"([{"SrcIPs":["10.0.0.1"],"SrcBits":[24],"DstPorts":[{"IP":"10.0.0.0/8","Ports":null}],)"
              R"("IPProto":null,"CapGrant":[]}])"),
      R"([{"SrcIPs":["10.0.0.1"],"SrcBits":[24],"DstPorts":[{"IP":"10.0.0.0/8","Ports":{"First":0,"Last":0}}]}])");
  // Every address form Go's filter accepts.
  const std::string forms =
      R"([{"SrcIPs":["*","100.64.0.1","100.64.0.0/10","fd7a:115c:a1e0::/48","100.64.0.1-100.64.0.9",)"
      R"("fd7a::1-fd7a::2","cap:tailscale.com/cap/x"],"DstPorts":[{"IP":"::1","Ports":{"First":1,"Last":1}}]}])";
  EXPECT_EQ(encoded(forms), forms);
  // An empty filter is Go's deny-all.
  EXPECT_EQ(encoded("[]"), "[]");
  EXPECT_EQ(encoded(" [ ] "), "[]");
}

TEST(FilterRules, WhatControldDecodes) {
  std::string text =
      encoded(R"([{"SrcIPs":["100.64.0.2"],"DstPorts":[{"IP":"100.64.0.1","Ports":{"First":22,"Last":22}}],)"
              R"("IPProto":[6]},{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])");
  auto m = controld::decodeMapResponse(R"({"PacketFilter":)" + text + "}");
  ASSERT_TRUE(m.has_value()) << m.error().message;
  ASSERT_TRUE(m->packetFilter);
  ASSERT_EQ(m->packetFilter->size(), 2u);
  const auto& r = m->packetFilter->at(0);
  EXPECT_EQ(r.srcIps, std::vector<std::string>{"100.64.0.2"});
  ASSERT_EQ(r.dstPorts.size(), 1u);
  EXPECT_EQ(r.dstPorts[0].ip, "100.64.0.1");
  EXPECT_EQ(r.dstPorts[0].first, 22);
  EXPECT_EQ(r.dstPorts[0].last, 22);
  EXPECT_EQ(r.ipProto, std::vector<int>{6});
}

TEST(FilterRules, ClearErrors) {
  EXPECT_NE(errorOf("").find("JSON"), std::string::npos);
  EXPECT_NE(errorOf("[{").find("JSON"), std::string::npos);
  EXPECT_NE(errorOf("null").find("expected a JSON array of FilterRule, got null"), std::string::npos);
  EXPECT_NE(errorOf(R"({"SrcIPs":["*"]})").find("got object"), std::string::npos);
  EXPECT_EQ(errorOf("[1]"), "FilterRule[0]: expected a FilterRule object, got number");
  EXPECT_EQ(errorOf(R"([{"DstPorts":[{"IP":"*"}]}])"),
            "FilterRule[0].SrcIPs: required (a rule without sources allows nothing)");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":[]}])"),
            "FilterRule[0].SrcIPs: required (a rule without sources allows nothing)");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"]}])"),
            "FilterRule[0].DstPorts: required (a rule without destinations allows nothing)");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":"*","DstPorts":[{"IP":"*"}]}])"),
            "json: cannot unmarshal string into Go struct field FilterRule.SrcIPs of type []string");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":[7],"DstPorts":[{"IP":"*"}]}])"),
            "json: cannot unmarshal number into Go struct field FilterRule.SrcIPs of type string");
  EXPECT_NE(errorOf(R"([{"SrcIPs":["100.64.0.300"],"DstPorts":[{"IP":"*"}]}])")
                .find(R"(FilterRule[0].SrcIPs[0]: "100.64.0.300" is not "*", an IP, a CIDR or an IP range)"),
            std::string::npos);
  EXPECT_NE(
      errorOf(
          R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*"}]},{"SrcIPs":["10.0.0.9-10.0.0.1"],"DstPorts":[{"IP":"*"}]}])")
          .find("FilterRule[1].SrcIPs[0]: \"10.0.0.9-10.0.0.1\" is not \"*\", an IP, a CIDR or an IP range "
                "(range end before its start)"),
      std::string::npos);
  EXPECT_NE(errorOf(R"([{"SrcIPs":["10.0.0.1-::1"],"DstPorts":[{"IP":"*"}]}])").find("different families"),
            std::string::npos);
  EXPECT_NE(errorOf(R"([{"SrcIPs":["1-2-3"],"DstPorts":[{"IP":"*"}]}])").find("more than one '-'"),
            std::string::npos);
  EXPECT_NE(errorOf(R"([{"SrcIPs":["fe80::1%eth0"],"DstPorts":[{"IP":"*"}]}])").find("zones"),
            std::string::npos);
  EXPECT_NE(errorOf(R"([{"SrcIPs":["10.0.0.0/33"],"DstPorts":[{"IP":"*"}]}])").find("10.0.0.0/33"),
            std::string::npos);
  EXPECT_NE(errorOf(R"([{"SrcIPs":["cap:"],"DstPorts":[{"IP":"*"}]}])").find("empty capability"),
            std::string::npos);
  EXPECT_NE(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"cap:x"}]}])").find("only valid in SrcIPs"),
            std::string::npos);
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"Ports":{"First":1,"Last":2}}]}])"),
            R"(FilterRule[0].DstPorts[0].IP: required ("*", an IP, a CIDR or an IP range))");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":90,"Last":80}}]}])"),
            "FilterRule[0].DstPorts[0].Ports: First 90 is after Last 80");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65536}}]}])"),
            "json: cannot unmarshal number into Go struct field PortRange.Last of type uint16");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":-1,"Last":1}}]}])"),
            "json: cannot unmarshal number into Go struct field PortRange.First of type uint16");
  EXPECT_EQ(
      errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":"22"}]}])"),
      "json: cannot unmarshal string into Go struct field NetPortRange.Ports of type tailcfg.PortRange");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Bits":129}]}])"),
            "FilterRule[0].DstPorts[0].Bits: 129 is outside 0..128");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*"}],"IPProto":[6,256]}])"),
            "FilterRule[0].IPProto[1]: 256 is outside 0..255");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*"}],"IPProto":[1.5]}])"),
            "json: cannot unmarshal number into Go struct field FilterRule.IPProto of type int");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*"}],"CapGrant":[{"Dsts":["*"]}]}])"),
            "FilterRule[0].CapGrant: not supported by testcontrol");
  EXPECT_EQ(errorOf(R"([{"SrcIPs":["*"],"DstPorts":{"IP":"*"}}])"),
            "json: cannot unmarshal object into Go struct field FilterRule.DstPorts of type "
            "[]tailcfg.NetPortRange");
  EXPECT_NE(errorOf(std::string(1 << 20, ' ')).find("too long"), std::string::npos);
}

TEST(FilterRules, HostileBodiesNeverCrash) {
  std::string base = R"([{"SrcIPs":["100.64.0.2","10.0.0.0/8"],"DstPorts":[{"IP":"100.64.0.1-100.64.0.3",)"
                     R"("Bits":32,"Ports":{"First":22,"Last":80}}],"IPProto":[6,17]}])";
  uint32_t seed = 777;
  size_t accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string b = base;
    if (i < int(base.size())) {
      b.resize(size_t(i));
    } else {
      for (int k = 0; k < 2; ++k) {
        seed = seed * 1103515245 + 12345;
        b[(seed >> 8) % b.size()] = char(seed >> 16);
      }
    }
    auto r = parseFilterRules(b);
    if (!r) continue;
    ++accepted;
    // What is accepted re-encodes to a fixed point.
    std::string once = ipn::goMarshal(*r);
    auto again = parseFilterRules(once);
    ASSERT_TRUE(again.has_value()) << once;
    EXPECT_EQ(ipn::goMarshal(*again), once);
  }
  EXPECT_GT(accepted, 0u);
  EXPECT_FALSE(parseFilterRules(std::string(200000, '[')).has_value());
}

}  // namespace
}  // namespace tnet::testcontrol
