#include <gtest/gtest.h>
#include <unistd.h>

#include "libs/sandbox/isolation.h"

namespace tnet::sandbox {
namespace {

TEST(Isolation, ReadsOwnFacts) {
  auto facts = readIsolationFacts();
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->pid, getpid());
  EXPECT_EQ(facts->uid, geteuid());
  EXPECT_NE(facts->netnsInode, 0u);
  auto byPid = readIsolationFacts(getpid());
  ASSERT_TRUE(byPid);
  EXPECT_EQ(byPid->netnsInode, facts->netnsInode);
}

TEST(Isolation, MissingProcessIsAnError) {
  auto facts = readIsolationFacts(999999999);
  ASSERT_FALSE(facts);
  EXPECT_NE(facts.error().message.find("/proc/999999999"), std::string::npos);
}

}  // namespace
}  // namespace tnet::sandbox
