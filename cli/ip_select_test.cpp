#include "cli/ip_select.h"

#include <gtest/gtest.h>

namespace tnet::cli {
namespace {

nlohmann::json status() {
  return nlohmann::json::parse(R"({
    "BackendState": "Running",
    "TailscaleIPs": ["100.64.0.1", "fd7a:115c:a1e0::1"],
    "Peer": {
      "nodekey:bb": {"HostName": "web", "DNSName": "b.tail1.ts.net.", "TailscaleIPs": ["100.64.0.2", "fd7a:115c:a1e0::2"]},
      "nodekey:cc": {"HostName": "", "DNSName": "c.tail1.ts.net.", "TailscaleIPs": ["100.64.0.3"]}
    }})");
}

TEST(IpSelect, SelfAndFamiliesAsGo) {
  auto all = selectIps(status(), {});
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<std::string>{"100.64.0.1", "fd7a:115c:a1e0::1"}));
  EXPECT_EQ(*selectIps(status(), {.want4 = true}), std::vector<std::string>{"100.64.0.1"});
  EXPECT_EQ(*selectIps(status(), {.want6 = true}), std::vector<std::string>{"fd7a:115c:a1e0::1"});
  EXPECT_EQ(*selectIps(status(), {.want1 = true}), std::vector<std::string>{"100.64.0.1"});
  EXPECT_EQ(selectIps(status(), {.want1 = true, .want4 = true}).error().message,
            "tailscale ip -4, -6, and -1 are mutually exclusive");
}

TEST(IpSelect, PeersByNameLabelHostnameOrIp) {
  for (std::string arg : {"b.tail1.ts.net.", "b.tail1.ts.net", "b", "web", "100.64.0.2"}) {
    auto r = selectIps(status(), {.want4 = true, .peer = arg});
    ASSERT_TRUE(r) << arg;
    EXPECT_EQ(*r, std::vector<std::string>{"100.64.0.2"}) << arg;
  }
  EXPECT_EQ(selectIps(status(), {.want6 = true, .peer = "c"}).error().message, "no Tailscale IPv6 address");
  EXPECT_EQ(selectIps(status(), {.peer = "nope"}).error().message, "unknown hostname: \"nope\"");
  EXPECT_EQ(selectIps(status(), {.peer = "100.64.9.9"}).error().message, "no peer found with IP 100.64.9.9");
}

TEST(IpSelect, NoAddressesNamesTheState) {
  auto st = nlohmann::json::parse(R"({"BackendState":"NeedsLogin","TailscaleIPs":null,"Peer":null})");
  EXPECT_EQ(selectIps(st, {}).error().message, "no current Tailscale IPs; state: NeedsLogin");
}

}  // namespace
}  // namespace tnet::cli
