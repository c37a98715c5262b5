// As root, in a network namespace this test creates: testderp and two magicsockd processes on the
// namespace's loopback, and nftables rules that drop UDP between the two magicsockd sockets
// (STUN to testderp stays allowed). Blocked → DERP only; allowed → direct within 5 s; blocked
// again → back on DERP once the direct path's trust lapses (Go: 6.5 s after the last pong).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "libs/crypto/crypto.h"
#include "tests/integration/harness/harness.h"
#include "tests/integration/magicsock/magicsock_fixture.h"

namespace tnet::magicsocktest {
namespace {

using namespace std::chrono_literals;

// Drops UDP between the two magicsockd sockets only: STUN answers from testderp still arrive.
std::string nftBlockScript(uint16_t pa, uint16_t pb) {
  std::string set = std::to_string(pa) + ", " + std::to_string(pb);
  return "add table inet msctest\n"
         "add chain inet msctest out { type filter hook output priority 0; policy accept; }\n"
         "add rule inet msctest out udp sport { " +
         set + " } udp dport { " + set + " } drop\n";
}

TEST(MagicsockNetns, UdpBlockedThenAllowedThenBlockedAgain) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces and nftables";
  if (!std::filesystem::exists("/usr/sbin/nft")) GTEST_SKIP() << "nft not installed";
  crypto::init();
  auto ns = harness::NetNamespace::create();
  if (!ns) GTEST_SKIP() << "cannot create a network namespace: " << ns.error().message;
  auto up = harness::runProcess(ns->exec({"ip", "link", "set", "lo", "up"}));
  ASSERT_EQ(up.exitCode, 0) << up.err;

  char dir[] = "/tmp/msc-netns-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string portFile = std::string(dir) + "/derp.json";
  std::vector<std::string> args = ns->exec(
      {binDir() + "/testderp", "--listen", "127.0.0.1:0", "--stun-port", "0", "--port-file", portFile});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t derpPid = -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawnp(&derpPid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  struct Reaper {
    pid_t pid;
    std::string dir;
    ~Reaper() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
      std::filesystem::remove_all(dir);
    }
  } reaper{derpPid, dir};
  nlohmann::json ports;
  for (int i = 0; i < 500 && !ports.is_object(); ++i) {
    std::ifstream in(portFile);
    std::stringstream ss;
    ss << in.rdbuf();
    ports = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!ports.is_object()) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(ports.is_object()) << "testderp did not start in the namespace";
  DerpTarget target{"127.0.0.1", ports["derpPort"].get<uint16_t>(), ports["stunPort"].get<int>()};

  bus::Loop loop;
  Node a(loop, "a", ns->name()), b(loop, "b", ns->name());
  auto ra = a.start();
  ASSERT_TRUE(ra) << ra.error().message;
  auto rb = b.start();
  ASSERT_TRUE(rb) << rb.error().message;
  auto nft = [&](const std::string& script) {
    std::string f = std::string(dir) + "/rules.nft";
    std::ofstream(f) << script;
    auto r = harness::runProcess(ns->exec({"nft", "-f", f}));
    return r.exitCode == 0 ? std::string() : r.err;
  };
  ASSERT_EQ(nft(nftBlockScript(a.localPort(), b.localPort())), "");

  // Endpoints from STUN (allowed), then both sides know each other's address and disco key.
  ASSERT_TRUE(a.setConfig(target, {}));
  ASSERT_TRUE(b.setConfig(target, {}));
  ASSERT_TRUE(runUntil(
      loop, [&] { return !a.endpoints().empty() && !b.endpoints().empty(); }, 10s));
  ASSERT_TRUE(a.setConfig(target, {Node::PeerSpec{b.nodePublic(), b.discoPublic(), b.endpoints(), 1}}));
  ASSERT_TRUE(b.setConfig(target, {Node::PeerSpec{a.nodePublic(), a.discoPublic(), a.endpoints(), 1}}));

  uint32_t tag = 0;
  auto direct = [](Node& from, Node& to) {
    auto p = from.pathTo(to.nodePublic());
    return p && !p->curAddr.empty();
  };
  auto derpCount = [](Node& n, const key::NodePublic& peer) {
    size_t c = 0;
    for (const auto& r : n.received()) c += (r.peer == peer && r.path == 1) ? 1 : 0;
    return c;
  };
  auto pumpUntil = [&](const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + scaled(timeout);
    while (std::chrono::steady_clock::now() < end) {
      a.sendData(b.nodePublic(), fakeTransport(++tag));
      b.sendData(a.nodePublic(), fakeTransport(++tag));
      if (runUntil(loop, pred, 100ms)) return true;
    }
    return pred();
  };
  auto dump = [&] { return "---- a:\n" + a.log() + "---- b:\n" + b.log(); };

  // 1. UDP blocked: traffic flows via DERP, no direct path.
  EXPECT_FALSE(pumpUntil([&] { return direct(a, b) || direct(b, a); }, 6s)) << dump();
  EXPECT_GE(derpCount(b, a.nodePublic()), 10u) << dump();

  // 2. UDP allowed: a direct path within 5 s. Pings to one address are ≥ 5 s apart (Go's
  //    discoPingInterval), and the blocked phase kept pinging, so the first side to re-ping gets
  //    through within that interval; the other follows within its next ping (+ one heartbeat).
  ASSERT_EQ(nft("delete table inet msctest\n"), "");
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
        .count();
  };
  ASSERT_TRUE(pumpUntil([&] { return direct(a, b) || direct(b, a); }, 5s)) << dump();
  std::cerr << "first direct path after " << ms() << " ms\n";
  ASSERT_TRUE(pumpUntil([&] { return direct(a, b) && direct(b, a); }, 3s)) << dump();
  std::cerr << "both direct after " << ms() << " ms\n";

  // 3. Blocked again: back to DERP within Go's trust duration plus one heartbeat, traffic continues.
  ASSERT_EQ(nft(nftBlockScript(a.localPort(), b.localPort())), "");
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(pumpUntil([&] { return !direct(a, b) && !direct(b, a); }, 12s)) << dump();
  std::cerr
      << "back on DERP after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
      << " ms\n";
  size_t before = derpCount(b, a.nodePublic());
  EXPECT_TRUE(pumpUntil([&] { return derpCount(b, a.nodePublic()) >= before + 5; }, 5s)) << dump();
}

}  // namespace
}  // namespace tnet::magicsocktest
