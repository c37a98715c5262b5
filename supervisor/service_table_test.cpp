#include "supervisor/service_table.h"

#include <gtest/gtest.h>

namespace tnet::supervisor {
namespace {

TEST(ServiceTable, HasSixServicesInStartOrderFromTheManifest) {
  const auto& t = serviceTable();
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t.front().name, "wgd");
  EXPECT_EQ(t.back().name, "apid");
  for (const auto& s : t) EXPECT_EQ(s.user, "tailnetd-" + s.name);
  EXPECT_EQ(serviceGroup(), "tailnetd");
  EXPECT_TRUE(findService("wgd")->privateNetwork);
  EXPECT_TRUE(findService("wgd")->privateNetworkUnprivileged);
  EXPECT_FALSE(findService("magicsockd")->privateNetwork);
  EXPECT_EQ(findService("sshd"), nullptr);
}

TEST(ServiceTable, EnvironmentAllowList) {
  std::vector<std::string> env = {"TS_DEBUG_MTU=1300", "TS_DEBUGX=1", "HOME=/root", "TAILNETD_SECCOMP=log",
                                  "TS_CONTROL_URL=http://127.0.0.1:9", "NOEQUALS"};
  auto magic = filterEnvironment(env, findService("magicsockd")->environment);
  EXPECT_NE(std::find(magic.begin(), magic.end(), "TS_DEBUG_MTU=1300"), magic.end());
  EXPECT_EQ(std::find(magic.begin(), magic.end(), "TS_DEBUGX=1"), magic.end());
  EXPECT_EQ(std::find(magic.begin(), magic.end(), "HOME=/root"), magic.end());
  EXPECT_NE(std::find(magic.begin(), magic.end(), "TAILNETD_SECCOMP=log"), magic.end());
  auto wgd = filterEnvironment(env, findService("wgd")->environment);
  EXPECT_EQ(std::find(wgd.begin(), wgd.end(), "TS_DEBUG_MTU=1300"), wgd.end());
  EXPECT_NE(std::find(wgd.begin(), wgd.end(), "TAILNETD_SECCOMP=log"), wgd.end());
  auto controld = filterEnvironment(env, findService("controld")->environment);
  EXPECT_NE(std::find(controld.begin(), controld.end(), "TS_CONTROL_URL=http://127.0.0.1:9"), controld.end());
}

}  // namespace
}  // namespace tnet::supervisor
