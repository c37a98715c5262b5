// magicsock_bench: two real magicsockd processes on a direct loopback UDP path; this process
// plays both wgds, pushes 1280-byte WireGuard-shaped datagrams into a's pipe and counts what
// b hands to its wgd. Reports delivered datagrams/s and the CPU (user+sys, all threads) of both
// magicsockd processes per delivered datagram.
//   magicsock_bench [--seconds 3] [--batch 32] [--unbatched-udp]
// --batch is the number of datagrams per pipe flush from "wgd"; --unbatched-udp makes magicsockd
// use one datagram per recvmmsg/sendmmsg (TNET_BENCH_UDP_BATCH=1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "libs/crypto/crypto.h"
#include "tests/integration/magicsock/magicsock_fixture.h"
#include "tests/integration/testderp/derp_server.h"

using namespace tnet;
using namespace tnet::magicsocktest;
using namespace std::chrono_literals;

namespace {

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream ss(s.substr(rp + 2));
  std::string f;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    ss >> f;
    if (i == 14) utime = std::stoul(f);
    if (i == 15) stime = std::stoul(f);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"magicsockd ⇄ magicsockd datagram benchmark"};
  double seconds = 3;
  int batch = 32;
  bool unbatchedUdp = false;
  app.add_option("--seconds", seconds);
  app.add_option("--batch", batch)->check(CLI::Range(1, 64));
  app.add_flag("--unbatched-udp", unbatchedUdp);
  CLI11_PARSE(app, argc, argv);
  crypto::init();

  auto derp = testderp::DerpServer::start(testderp::ServerOptions{.stunPort = 0});
  if (!derp) {
    std::fprintf(stderr, "testderp: %s\n", derp.error().message.c_str());
    return 1;
  }
  DerpTarget target{"127.0.0.1", (*derp)->port(), (*derp)->stunPort()};
  bus::Loop loop;
  Node a(loop, "a"), b(loop, "b");
  std::map<std::string, std::string> env;
  if (unbatchedUdp) env["TNET_BENCH_UDP_BATCH"] = "1";
  for (Node* n : {&a, &b}) {
    if (auto r = n->start(env); !r) {
      std::fprintf(stderr, "start: %s\n", r.error().message.c_str());
      return 1;
    }
    (void)n->setConfig(target, {});
  }
  if (!runUntil(
          loop, [&] { return !a.endpoints().empty() && !b.endpoints().empty(); }, 10s)) {
    std::fprintf(stderr, "no endpoints\n");
    return 1;
  }
  (void)a.setConfig(target, {Node::PeerSpec{b.nodePublic(), b.discoPublic(), b.endpoints(), 1}});
  (void)b.setConfig(target, {Node::PeerSpec{a.nodePublic(), a.discoPublic(), a.endpoints(), 1}});
  // Warm up until the path is direct both ways.
  uint32_t tag = 0;
  auto direct = [](Node& from, Node& to) {
    auto p = from.pathTo(to.nodePublic());
    return p && !p->curAddr.empty();
  };
  for (int i = 0; i < 100 && !(direct(a, b) && direct(b, a)); ++i) {
    a.sendData(b.nodePublic(), fakeTransport(++tag));
    b.sendData(a.nodePublic(), fakeTransport(++tag));
    runUntil(
        loop, [&] { return direct(a, b) && direct(b, a); }, 100ms);
  }
  if (!direct(a, b)) {
    std::fprintf(stderr, "no direct path\n");
    return 1;
  }
  b.setStoreReceived(false);
  uint64_t base = b.receivedCount();
  auto delivered = [&] { return b.receivedCount() - base; };

  Bytes dg(1280, 0);
  dg[0] = 4;
  auto bPub = b.nodePublic();

  double cpuA0 = cpuSeconds(a.pid()), cpuB0 = cpuSeconds(b.pid());
  auto t0 = std::chrono::steady_clock::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  uint64_t sent = 0;
  uint64_t lost = 0;  // written off after 50 ms without progress (a bounded queue dropped them)
  auto inFlight = [&] { return sent - delivered() - lost; };
  constexpr uint64_t WINDOW = 256;  // datagrams in flight; the pipes' queues hold 16 batches
  auto lastProgress = std::chrono::steady_clock::now();
  uint64_t lastDelivered = 0;
  while (std::chrono::steady_clock::now() < end) {
    while (inFlight() + uint64_t(batch) <= WINDOW) {
      for (int i = 0; i < batch; ++i) {
        a.sendData(bPub, dg, false);
        ++sent;
      }
      a.flush();
    }
    loop.runFor(std::chrono::microseconds(100));
    auto now = std::chrono::steady_clock::now();
    if (delivered() != lastDelivered) {
      lastDelivered = delivered();
      lastProgress = now;
    } else if (now - lastProgress > 50ms) {
      lost = sent - delivered();
      lastProgress = now;
    }
  }
  runUntil(
      loop, [&] { return delivered() >= sent; }, 500ms);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpuA = cpuSeconds(a.pid()) - cpuA0, cpuB = cpuSeconds(b.pid()) - cpuB0;
  uint64_t got = delivered();
  std::printf(
      "magicsock_bench udp=%s pipe_batch=%d seconds=%.2f sent=%lu delivered=%lu (%.0f /s) "
      "cpu_per_datagram=%.2f us "
      "(sender %.2f, receiver %.2f)\n",
      unbatchedUdp ? "unbatched" : "batched", batch, elapsed, (unsigned long)sent, (unsigned long)got,
      double(got) / elapsed, got ? (cpuA + cpuB) * 1e6 / double(got) : 0.0,
      got ? cpuA * 1e6 / double(got) : 0.0, got ? cpuB * 1e6 / double(got) : 0.0);
  return 0;
}
