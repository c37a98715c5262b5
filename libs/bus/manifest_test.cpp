#include "libs/bus/manifest.h"

#include <gtest/gtest.h>

namespace tnet::bus::manifest {
namespace {

TEST(Manifest, DeclaresTheSixServicesWithTheirUsers) {
  std::vector<std::string> expected = {"ipnd", "apid", "controld", "wgd", "magicsockd", "netstackd"};
  EXPECT_EQ(serviceNames(), expected);
  for (const auto& s : expected) EXPECT_EQ(userName(s), "tailnetd-" + s);
  EXPECT_EQ(groupName(), "tailnetd");
  EXPECT_FALSE(isService("operator"));
  EXPECT_EQ(userName("nope"), "");
}

TEST(Manifest, RequestAcls) {
  EXPECT_TRUE(allows("ipnd", "ipnd.localapi", "apid"));
  EXPECT_FALSE(allows("ipnd", "ipnd.localapi", "netstackd"));
  EXPECT_FALSE(allows("ipnd", "ipnd.localapi", ""));
  EXPECT_TRUE(allows("ipnd", "ipnd.localapi", OPERATOR));
  EXPECT_TRUE(allows("wgd", "wgd.derpClientInfo", "magicsockd"));
  EXPECT_FALSE(allows("wgd", "wgd.derpClientInfo", "ipnd"));
  // sys.* on every service, callable by ipnd only (and the operator).
  for (const auto& s : serviceNames()) {
    EXPECT_TRUE(allows(s, "sys.health", "ipnd")) << s;
    EXPECT_TRUE(allows(s, "sys.setLogLevel", "ipnd")) << s;
    EXPECT_FALSE(allows(s, "sys.setLogLevel", "apid")) << s;
    EXPECT_TRUE(serves(s, "sys.snapshot")) << s;
  }
  // Undeclared methods: nobody, not even the operator.
  EXPECT_FALSE(serves("wgd", "wgd.dumpKeys"));
  EXPECT_FALSE(allows("wgd", "wgd.dumpKeys", OPERATOR));
  EXPECT_FALSE(allows("ipnd", "wgd.setConfig", OPERATOR));
}

TEST(Manifest, Topics) {
  EXPECT_TRUE(publishes("ipnd", "ipnd.notify"));
  EXPECT_TRUE(publishes("ipnd", "ipnd.hello"));
  EXPECT_TRUE(publishes("wgd", "wgd.violation"));
  EXPECT_FALSE(publishes("wgd", "ipnd.state"));
  EXPECT_TRUE(retained("ipnd", "ipnd.state"));
  EXPECT_FALSE(retained("ipnd", "ipnd.notify"));
  EXPECT_TRUE(subscribes("apid", "ipnd.notify"));
  EXPECT_TRUE(subscribes("apid", "ipnd.hello"));  // implied by any ipnd topic
  EXPECT_FALSE(subscribes("apid", "wgd.hello"));
  EXPECT_FALSE(subscribes("wgd", "ipnd.notify"));
  for (const auto& s : serviceNames()) {
    if (s != "ipnd") {
      EXPECT_TRUE(subscribes("ipnd", s + ".health")) << s;
    }
  }
  EXPECT_EQ(topicPublisher("wgd.peers"), "wgd");
  EXPECT_EQ(topicPublisher("wgd"), "");
  EXPECT_EQ(topicPublisher(".x"), "");
}

TEST(Manifest, PipesAndEnvironment) {
  EXPECT_EQ(pipeSendersTo("wgd"), (std::vector<std::string>{"magicsockd", "netstackd"}));
  EXPECT_EQ(pipeReceiversFrom("wgd"), (std::vector<std::string>{"netstackd", "magicsockd"}));
  EXPECT_TRUE(pipeSendersTo("ipnd").empty());
  EXPECT_TRUE(environmentAllowed("magicsockd", "TS_DEBUG_OMIT_LOCAL_ADDRS"));
  EXPECT_FALSE(environmentAllowed("wgd", "TS_DEBUG_OMIT_LOCAL_ADDRS"));
  EXPECT_TRUE(environmentAllowed("controld", "TS_CONTROL_URL"));
  EXPECT_FALSE(environmentAllowed("magicsockd", "TS_CONTROL_URL"));
  EXPECT_TRUE(environmentAllowed("wgd", "TAILNETD_SECCOMP"));
  EXPECT_FALSE(environmentAllowed("wgd", "LD_PRELOAD"));
  EXPECT_FALSE(environmentAllowed("nope", "TAILNETD_SECCOMP"));
}

}  // namespace
}  // namespace tnet::bus::manifest
