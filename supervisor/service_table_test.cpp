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
  std::vector<std::string> env = {"TS_DEBUG_MTU=1300",
                                  "TS_DEBUGX=1",
                                  "HOME=/root",
                                  "TAILNETD_SECCOMP=log",
                                  "TS_CONTROL_URL=http://127.0.0.1:9",
                                  "NOEQUALS"};
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

#include "supervisor/users.h"

namespace tnet::supervisor {
namespace {

TEST(ServiceUsers, MissingUserOrGroupNamesTheFix) {
  std::vector<ServiceInfo> services = {{"wgd", "tnet-no-such-user-x", {}, false, false}};
  auto r = lookupServiceUsers(services, "root");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("user tnet-no-such-user-x does not exist"), std::string::npos);
  EXPECT_NE(r.error().message.find("systemd-sysusers packaging/sysusers.d/tailnetd.conf"), std::string::npos);
  auto g = lookupServiceUsers(services, "tnet-no-such-group-x");
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("group tnet-no-such-group-x does not exist"), std::string::npos);
}

TEST(ServiceUsers, RefusesRootAsAServiceUser) {
  std::vector<ServiceInfo> services = {{"wgd", "root", {}, false, false}};
  auto r = lookupServiceUsers(services, "root");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("uid 0"), std::string::npos);
}

TEST(ServiceUsers, FindsExistingUsers) {
  std::vector<ServiceInfo> services = {{"x", "nobody", {}, false, false}};
  auto r = lookupServiceUsers(services, "root");
  if (!r) GTEST_SKIP() << "no nobody user here";
  EXPECT_EQ(r->group, 0u);
  EXPECT_NE(r->uids["x"], 0u);
}

}  // namespace
}  // namespace tnet::supervisor
