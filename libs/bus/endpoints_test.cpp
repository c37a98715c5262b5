#include "libs/bus/endpoints.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "libs/bus/zap.h"

namespace tnet::bus {
namespace {

TEST(Endpoints, Paths) {
  EXPECT_EQ(eventEndpointPath("/run/tailnetd", "wgd"), "/run/tailnetd/wgd/ev");
  EXPECT_EQ(requestEndpointPath("/run/tailnetd/", "ipnd"), "/run/tailnetd/ipnd/rpc");
  EXPECT_EQ(pipeEndpointPath("/run/tailnetd", "wgd", "netstackd"), "/run/tailnetd/wgd/p.netstackd");
}

TEST(Endpoints, SunPathLimitHasAClearError) {
  std::string ok = "/" + std::string(106, 'a');
  EXPECT_TRUE(checkSocketPath(ok));
  auto r = checkSocketPath(ok + "b");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("108 bytes"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("--runtime-dir"), std::string::npos);
  EXPECT_FALSE(checkSocketPath("relative/path"));
}

TEST(Endpoints, StaleSocketIsRemovedButOtherFilesAreNot) {
  char tmpl[] = "/tmp/tnet-ep-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string sock = dir + "/s";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  ASSERT_TRUE(std::filesystem::exists(sock));
  ASSERT_TRUE(prepareSocketPath(sock));
  EXPECT_FALSE(std::filesystem::exists(sock));

  std::string file = dir + "/f";
  std::ofstream(file) << "keep";
  auto r = prepareSocketPath(file);
  EXPECT_FALSE(r);
  EXPECT_TRUE(std::filesystem::exists(file));
  std::filesystem::remove_all(dir);
}

TEST(Zap, ParsesIpcPeerAddress) {
  auto c = parsePeerAddress("localhost:1001:1002:4242");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->uid, 1001u);
  EXPECT_EQ(c->gid, 1002u);
  EXPECT_EQ(c->pid, 4242u);
  EXPECT_TRUE(parsePeerAddress(":0:0:1"));
  EXPECT_FALSE(parsePeerAddress("127.0.0.1"));
  EXPECT_FALSE(parsePeerAddress("localhost:x:1:2"));
  EXPECT_FALSE(parsePeerAddress("localhost:1:2:"));
  EXPECT_FALSE(parsePeerAddress(""));
  EXPECT_FALSE(parsePeerAddress(":::"));
}

TEST(Zap, Decisions) {
  // uid 0 is the operator everywhere.
  EXPECT_EQ(zapDecide("tailnetd", "localhost:0:0:1"), "operator");
  EXPECT_EQ(zapDecide("pipe.wgd", "localhost:0:0:1"), "operator");
  EXPECT_EQ(zapDecide("tailnetd", "127.0.0.1"), "");
  EXPECT_EQ(zapDecide("other", "localhost:0:0:1"), "");
}

}  // namespace
}  // namespace tnet::bus
