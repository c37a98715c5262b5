#include "cli/socket_path.h"

#include <gtest/gtest.h>

namespace tnet::cli {
namespace {

using Paths = std::vector<std::string>;

SocketLookupInputs base(bool systemSocketExists) {
  SocketLookupInputs in;
  in.home = "/home/op";
  in.exists = [systemSocketExists](const std::string& p) {
    return systemSocketExists && p == SYSTEM_SOCKET_PATH;
  };
  return in;
}

TEST(SocketPath, FlagWinsOverEverything) {
  auto in = base(true);
  in.socketFlag = "/tmp/flag.sock";
  in.envSocket = "/tmp/env.sock";
  in.envStateDir = "/tmp/state";
  in.xdgStateHome = "/x";
  EXPECT_EQ(socketCandidates(in), Paths{"/tmp/flag.sock"});
}

TEST(SocketPath, EnvSocketBeforeStateDir) {
  auto in = base(true);
  in.envSocket = "/tmp/env.sock";
  in.envStateDir = "/tmp/state";
  EXPECT_EQ(socketCandidates(in), Paths{"/tmp/env.sock"});
}

TEST(SocketPath, StateDirBeforeSystemSocket) {
  auto in = base(true);
  in.envStateDir = "/tmp/state/";
  EXPECT_EQ(socketCandidates(in), Paths{"/tmp/state/tailnetd.sock"});
  in.envStateDir = "/tmp/state";
  EXPECT_EQ(socketCandidates(in), Paths{"/tmp/state/tailnetd.sock"});
}

TEST(SocketPath, EmptyValuesCountAsUnset) {
  auto in = base(false);
  in.socketFlag = "";
  in.envSocket = "";
  in.envStateDir = "";
  EXPECT_EQ(socketCandidates(in), Paths{"/home/op/.local/state/tailnetd/tailnetd.sock"});
}

TEST(SocketPath, SystemSocketFirstWhenItExists) {
  auto in = base(true);
  EXPECT_EQ(socketCandidates(in),
            (Paths{"/run/tailnetd/tailnetd.sock", "/home/op/.local/state/tailnetd/tailnetd.sock"}));
}

TEST(SocketPath, UserStateDirWhenNoSystemSocket) {
  auto in = base(false);
  EXPECT_EQ(socketCandidates(in), Paths{"/home/op/.local/state/tailnetd/tailnetd.sock"});
  in.xdgStateHome = "/xdg";
  EXPECT_EQ(socketCandidates(in), Paths{"/xdg/tailnetd/tailnetd.sock"});
}

TEST(SocketPath, RootUsesTheSystemSocket) {
  auto in = base(false);
  in.isRoot = true;
  EXPECT_EQ(socketCandidates(in), Paths{"/run/tailnetd/tailnetd.sock"});
  in.envStateDir = "/var/lib/other";
  EXPECT_EQ(socketCandidates(in), Paths{"/var/lib/other/tailnetd.sock"});
}

TEST(SocketPath, NoHomeFallsBackToSystemPath) {
  SocketLookupInputs in;
  EXPECT_EQ(socketCandidates(in), Paths{"/run/tailnetd/tailnetd.sock"});
}

}  // namespace
}  // namespace tnet::cli
