// magicsockd with the real wgd service: the operator (this test, as ipnd would) has wgd make and
// commit a node key, then configures magicsockd; the DERP login is sealed by wgd's own
// wgd.derpClientInfo — the contract between the two services, end to end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "libs/bus/bus.h"
#include "libs/crypto/crypto.h"
#include "schemas/common.capnp.h"
#include "schemas/magicsockd.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/wgd.capnp.h"
#include "tests/integration/magicsock/magicsock_fixture.h"
#include "tests/integration/testderp/derp_server.h"

extern char** environ;

namespace tnet::magicsocktest {
namespace {

using namespace std::chrono_literals;

struct Proc {
  pid_t pid = -1;
  std::string log;
  ~Proc() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
  std::string text() const {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
};

bool spawn(Proc& p, std::vector<std::string> args, std::vector<std::string> env) {
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, p.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int rc = posix_spawn(&p.pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0;
}

template <typename Fill>
Result<bus::Reply> call(bus::Loop& loop, bus::Bus& bus, const char* svc, const char* method, Fill fill) {
  std::optional<Result<bus::Reply>> out;
  bus.call(svc, method, fill, 5s, [&](Result<bus::Reply> r) { out = std::move(r); });
  runUntil(
      loop, [&] { return out.has_value(); }, 6s);
  if (!out) return Error::failed("no reply");
  return *out;
}

TEST(MagicsockRealWgd, DerpLoginSealedByTheRealWgd) {
  crypto::init();
  for (const char* b : {"wgd", "magicsockd"}) {
    if (!std::filesystem::exists(binDir() + "/" + b)) GTEST_SKIP() << b << " is not built";
  }
  auto server = testderp::DerpServer::start(testderp::ServerOptions{.stunPort = 0});
  ASSERT_TRUE(server);
  char base[] = "/tmp/msc-wgd-XXXXXX";
  ASSERT_NE(mkdtemp(base), nullptr);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{base};
  std::string rt = std::string(base) + "/run";
  std::filesystem::create_directories(rt);
  std::vector<std::string> env = {"TS_DEBUG_OMIT_LOCAL_ADDRS=1", "TS_DEBUG_USE_DERP_HTTP=1",
                                  "PATH=/usr/bin:/bin"};
  {
    Proc wgd{-1, std::string(base) + "/wgd.log"}, ms{-1, std::string(base) + "/ms.log"};
    ASSERT_TRUE(
        spawn(wgd, {binDir() + "/wgd", "--runtime-dir", rt, "--state-dir", std::string(base) + "/wgd"}, env));
    bus::Loop loop;
    auto op = bus::Bus::create(loop, bus::BusOptions{rt, "operator"});
    ASSERT_TRUE(op);
    std::string committed;
    (*op)->subscribe("wgd.nodekey",
                     [&](const bus::Event& ev) { committed = ev.as<schema::NodeKeyState>().getCurrent(); });
    // The key exchange ipnd does at login: prepare, then commit the same key.
    Result<bus::Reply> prepared = Error::failed("not yet");
    ASSERT_TRUE(runUntil(
        loop,
        [&] {
          prepared = call(loop, **op, "wgd", "wgd.prepareNodeKey",
                          [](capnp::AnyPointer::Builder b) { b.initAs<schema::Empty>(); });
          return prepared.has_value();
        },
        15s))
        << wgd.text();
    std::string pub = prepared->as<schema::NodeKey>().getNodePublic();
    auto commit = call(loop, **op, "wgd", "wgd.commitNodeKey",
                       [&](capnp::AnyPointer::Builder b) { b.initAs<schema::NodeKey>().setNodePublic(pub); });
    ASSERT_TRUE(commit) << commit.error().message;
    ASSERT_TRUE(runUntil(
        loop, [&] { return committed == pub; }, 5s));

    ASSERT_TRUE(spawn(ms,
                      {binDir() + "/magicsockd", "--runtime-dir", rt, "--state-dir",
                       std::string(base) + "/ms", "--port", "0"},
                      env));
    bool connected = false;
    (*op)->subscribe("magicsockd.derp", [&](const bus::Event& ev) {
      for (auto c : ev.as<schema::DerpState>().getConns())
        connected |= c.getRegionId() == 1 && c.getConnected();
    });
    Result<bus::Reply> cfg = Error::failed("not yet");
    ASSERT_TRUE(runUntil(
        loop,
        [&] {
          cfg = call(loop, **op, "magicsockd", "magicsockd.setConfig", [&](capnp::AnyPointer::Builder b) {
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
            n.setDerpPort((*server)->port());
            n.setStunPort((*server)->stunPort());
          });
          return cfg.has_value();
        },
        15s))
        << ms.text();
    EXPECT_TRUE(runUntil(
        loop, [&] { return connected; }, 15s))
        << ms.text() << wgd.text();
    EXPECT_EQ((*server)->stats().handshakes, 1u);
    EXPECT_EQ((*server)->stats().handshakeFailures, 0u);
  }
}

}  // namespace
}  // namespace tnet::magicsocktest
