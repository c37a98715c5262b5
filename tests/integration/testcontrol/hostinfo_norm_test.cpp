#include "tests/integration/testcontrol/hostinfo_norm.h"

#include <gtest/gtest.h>

namespace tnet::testcontrol {
namespace {

StoredHostinfo norm(std::string_view text) {
  auto j = ipn::parseJson(text);
  EXPECT_TRUE(j.has_value());
  auto h = normalizeHostinfo(*j);
  EXPECT_TRUE(h.has_value()) << (h ? "" : h.error().message);
  return h ? *h : StoredHostinfo{};
}

TEST(HostinfoNorm, GoFieldOrderAndOmission) {
  // Keys in a scrambled order and spelling; zero values and unknown fields are dropped.
  auto h = norm(R"({"hostname":"a","OS":"linux","IPNVersion":"1.0","ShieldsUp":false,"App":"",
    "Unknown":5,"RequestTags":["tag:b","tag:a"],"NetInfo":{"PreferredDERP":900,"WorkingUDP":true,
    "DERPLatency":{"900-v4":0.5,"1-v4":0.25}},"Services":[{"Proto":"peerapi4","Port":123}],
    "sshHostKeys":["k"],"Container":null})");
  EXPECT_EQ(
      h.json,
      R"({"IPNVersion":"1.0","OS":"linux","Container":null,"Hostname":"a","RequestTags":["tag:b","tag:a"],)"
      R"("Services":[{"Proto":"peerapi4","Port":123}],"NetInfo":{"WorkingUDP":true,"PreferredDERP":900,)"
      R"("DERPLatency":{"1-v4":0.25,"900-v4":0.5}},"sshHostKeys":["k"]})");
  EXPECT_EQ(h.hostname, "a");
  EXPECT_EQ(h.preferredDerp, 900);
}

TEST(HostinfoNorm, ExactKeyWinsOverFoldedOne) {
  auto h = norm(R"({"hostname":"folded","Hostname":"exact"})");
  EXPECT_EQ(h.hostname, "exact");
}

TEST(HostinfoNorm, EmptyObjectAndEmptyNetInfo) {
  EXPECT_EQ(norm("{}").json, "{}");
  // A non-nil *NetInfo is written even when empty.
  EXPECT_EQ(norm(R"({"NetInfo":{}})").json, R"({"NetInfo":{}})");
}

TEST(HostinfoNorm, WrongKindsAreGoErrors) {
  for (const char* bad : {R"({"Hostname":5})", R"({"ShieldsUp":"yes"})", R"({"RoutableIPs":["nope"]})",
                          R"({"RoutableIPs":"10.0.0.0/8"})", R"({"NetInfo":{"PreferredDERP":"x"}})",
                          R"({"Services":[{"Port":70000}]})", R"({"Container":"true"})", R"([])"}) {
    auto j = ipn::parseJson(bad);
    ASSERT_TRUE(j.has_value()) << bad;
    EXPECT_FALSE(normalizeHostinfo(*j).has_value()) << bad;
  }
  auto j = ipn::parseJson(R"({"Hostname":5})");
  EXPECT_EQ(normalizeHostinfo(*j).error().message,
            "json: cannot unmarshal number into Go struct field Hostinfo.Hostname of type string");
}

TEST(HostinfoNorm, PrefixesAreCanonicalised) {
  auto h = norm(R"({"RoutableIPs":["10.0.0.0/8","::/0"]})");
  EXPECT_EQ(h.json, R"({"RoutableIPs":["10.0.0.0/8","::/0"]})");
}

TEST(HostinfoNorm, LocationAndTpmKeepOnlyTheirFields) {
  auto h = norm(R"({"TPM":{"Vendor":"v","Model":0,"FirmwareVersion":18446744073709551615,"X":{"deep":[1]}},)"
                R"("Location":{"City":"Oslo","Latitude":59.5,"Priority":0,"Extra":true}})");
  EXPECT_EQ(h.json, R"({"Location":{"City":"Oslo","Latitude":59.5},"TPM":{"Vendor":"v",)"
                    R"("FirmwareVersion":18446744073709551615}})");
  auto j = ipn::parseJson(R"({"TPM":{"FirmwareVersion":-1}})");
  EXPECT_FALSE(normalizeHostinfo(*j).has_value());
}

}  // namespace
}  // namespace tnet::testcontrol
