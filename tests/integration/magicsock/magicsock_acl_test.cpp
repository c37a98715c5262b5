// As root with the packaged users: magicsockd runs as tailnetd-magicsockd, a child running as
// tailnetd-wgd serves wgd.derpClientInfo with a node key only it holds, a child running as
// tailnetd-ipnd pushes the config. The bus ACLs are the kernel's uids, not test shortcuts:
// the DERP login works end to end, and the ipnd child is refused wgd.derpClientInfo.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/bus/data_pipe.h"
#include "libs/crypto/crypto.h"
#include "libs/wire/derp.h"
#include "libs/wire/derp_info.h"
#include "schemas/common.capnp.h"
#include "schemas/magicsockd.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/wgd.capnp.h"
#include "tests/integration/harness/harness.h"
#include "tests/integration/magicsock/magicsock_fixture.h"
#include "tests/integration/testderp/derp_server.h"

namespace tnet::magicsocktest {
namespace {

using namespace std::chrono_literals;

std::optional<std::pair<uid_t, gid_t>> user(const char* name) {
  passwd* pw = getpwnam(name);
  if (!pw) return std::nullopt;
  return std::pair{pw->pw_uid, pw->pw_gid};
}

bool makeDir(const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  std::filesystem::create_directories(path);
  return chown(path.c_str(), uid, gid) == 0 && chmod(path.c_str(), mode) == 0;
}

TEST(MagicsockAcl, RealUsersLoginThroughWgdAndIpndIsRefusedTheSeal) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run as the tailnetd-* users";
  auto wgdUser = user("tailnetd-wgd");
  auto ipndUser = user("tailnetd-ipnd");
  auto msUser = user("tailnetd-magicsockd");
  if (!wgdUser || !ipndUser || !msUser)
    GTEST_SKIP() << "tailnetd-* users not installed (packaging/sysusers.d)";

  char base[] = "/tmp/msc-acl-XXXXXX";
  ASSERT_NE(mkdtemp(base), nullptr);
  chmod(base, 0755);
  std::string runtime = std::string(base) + "/run";
  ASSERT_TRUE(makeDir(runtime, 0, 0, 0755));
  ASSERT_TRUE(makeDir(runtime + "/wgd", wgdUser->first, wgdUser->second, 0750));
  ASSERT_TRUE(makeDir(runtime + "/ipnd", ipndUser->first, ipndUser->second, 0750));
  ASSERT_TRUE(makeDir(runtime + "/magicsockd", msUser->first, msUser->second, 0750));
  ASSERT_TRUE(makeDir(std::string(base) + "/state", msUser->first, msUser->second, 0700));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{base};

  // The DERP port reaches the ipnd child through this pipe (the server starts after the forks).
  int portPipe[2];
  ASSERT_EQ(pipe(portPipe), 0);

  // Forks first: no Loop, ZeroMQ context or server thread exists yet.
  bus::testing::ChildAs wgdChild(wgdUser->first, wgdUser->second, [&]() -> int {
    crypto::init();
    auto nodeKey = key::NodePrivate::generate();
    bus::Loop loop;
    auto bus = bus::Bus::create(loop, bus::BusOptions{runtime, "wgd"});
    if (!bus) return 10;
    (*bus)->serve("wgd.derpClientInfo", [&](bus::Request req) {
      auto sp = req.params<schema::DerpClientInfoParams>().getServerPublic();
      auto server = derp::NodePublic::fromBytes(ByteSpan(sp.begin(), sp.size()));
      if (!server) return req.fail(Error::invalid("bad server key"));
      Bytes out;
      if (!derp::appendClientInfo(out, derp::ClientInfo{.version = 2, .canAckPings = true}, nodeKey,
                                  *server)) {
        return req.fail(Error::failed("seal"));
      }
      req.reply([&](capnp::AnyPointer::Builder b) {
        auto r = b.initAs<schema::DerpClientInfoReply>();
        r.setFrame(
            capnp::Data::Reader(out.data() + derp::FRAME_HEADER_LEN, out.size() - derp::FRAME_HEADER_LEN));
        r.setNodePublic(nodeKey.publicKey().toString());
      });
    });
    (*bus)->publish("wgd.nodekey", [&](capnp::AnyPointer::Builder b) {
      auto s = b.initAs<schema::NodeKeyState>();
      s.setCurrent(nodeKey.publicKey().toString());
      s.setCommits(1);
    });
    auto rx = bus::openPipeReceiver(**bus, bus::defaultPipeBackend(), "magicsockd", [](auto) {});
    if (!rx) return 11;
    loop.runFor(scaled(30s));
    return 0;
  });
  bus::testing::ChildAs ipndChild(ipndUser->first, ipndUser->second, [&]() -> int {
    close(portPipe[1]);
    uint16_t ports[2] = {0, 0};
    if (read(portPipe[0], ports, sizeof ports) != sizeof ports) return 20;
    bus::Loop loop;
    auto bus = bus::Bus::create(loop, bus::BusOptions{runtime, "ipnd"});
    if (!bus) return 21;
    // 1. The seal is magicsockd's alone: ipnd is refused by the manifest ACL.
    std::optional<Result<bus::Reply>> seal;
    (*bus)->call(
        "wgd", "wgd.derpClientInfo",
        [](capnp::AnyPointer::Builder b) {
          b.initAs<schema::DerpClientInfoParams>().setServerPublic(
              capnp::Data::Reader(reinterpret_cast<const uint8_t*>("0123456789abcdef0123456789abcdef"), 32));
        },
        5s, [&](Result<bus::Reply> r) { seal = std::move(r); });
    runUntil(
        loop, [&] { return seal.has_value(); }, 10s);
    if (!seal || seal->has_value() || seal->error().kind != ErrorKind::DENIED) return 22;
    // 2. The config push, retried until magicsockd is up.
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::optional<bool> ok;
      (*bus)->call(
          "magicsockd", "magicsockd.setConfig",
          [&](capnp::AnyPointer::Builder b) {
            auto c = b.initAs<schema::MagicsockConfig>();
            c.initGeneration().setN(1);
            c.setWantRunning(true);
            auto r = c.initDerpMap().initRegions(1)[0];
            r.setRegionId(1);
            r.setRegionCode("test");
            auto n = r.initNodes(1)[0];
            n.setName("1a");
            n.setRegionId(1);
            n.setHostName("127.0.0.1");
            n.setIpv4("127.0.0.1");
            n.setIpv6("none");
            n.setDerpPort(ports[0]);
            n.setStunPort(ports[1]);
          },
          2s, [&](Result<bus::Reply> r) { ok = r.has_value(); });
      runUntil(
          loop, [&] { return ok.has_value(); }, 3s);
      if (ok && *ok) return 0;
      loop.runFor(100ms);
    }
    return 23;
  });

  crypto::init();
  auto server = testderp::DerpServer::start(testderp::ServerOptions{.stunPort = 0});
  ASSERT_TRUE(server);
  uint16_t ports[2] = {(*server)->port(), (*server)->stunPort()};
  ASSERT_EQ(write(portPipe[1], ports, sizeof ports), ssize_t(sizeof ports));
  close(portPipe[0]);
  close(portPipe[1]);

  auto dir =
      harness::binariesReachableBy(msUser->first, msUser->second, {"magicsockd"}, std::string(base) + "/bin");
  ASSERT_TRUE(dir) << dir.error().message;
  std::string bin = *dir + "/magicsockd", state = std::string(base) + "/state",
              log = std::string(base) + "/ms.log";
  std::vector<std::string> args = {"setpriv",
                                   "--reuid=" + std::to_string(msUser->first),
                                   "--regid=" + std::to_string(msUser->second),
                                   "--clear-groups",
                                   bin,
                                   "--runtime-dir",
                                   runtime,
                                   "--state-dir",
                                   state,
                                   "--port",
                                   "0"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envs = {"TS_DEBUG_OMIT_LOCAL_ADDRS=1", "TS_DEBUG_USE_DERP_HTTP=1",
                                   "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t ms = -1;
  wgdChild.start();
  ipndChild.start();
  ASSERT_EQ(posix_spawnp(&ms, "setpriv", &fa, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  struct Kill {
    pid_t pid;
    ~Kill() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } killMs{ms};

  // The operator (root) watches: the home region connects, i.e. the login sealed by the wgd child
  // was accepted by the DERP server.
  bus::Loop loop;
  auto op = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
  ASSERT_TRUE(op);
  bool connected = false;
  (*op)->subscribe("magicsockd.derp", [&](const bus::Event& ev) {
    for (auto c : ev.as<schema::DerpState>().getConns())
      connected |= c.getRegionId() == 1 && c.getConnected();
  });
  auto readLog = [&] {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_TRUE(runUntil(
      loop, [&] { return connected; }, 20s))
      << readLog();
  EXPECT_GE((*server)->stats().handshakes, 1u);
  ASSERT_TRUE(runUntil(
      loop, [&] { return ipndChild.poll().has_value(); }, 20s));
  EXPECT_EQ(*ipndChild.poll(), 0) << "ipnd child: 22 = derpClientInfo was not denied, 23 = setConfig failed";
  // magicsockd ran as its own user.
  struct stat st {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(ms)).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, msUser->first);
}

}  // namespace
}  // namespace tnet::magicsocktest
