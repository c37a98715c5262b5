// Two real wgd processes back to back: this process plays netstackd (injecting IP packets into
// A, receiving them from B) and magicsockd (moving A's tagged datagrams into B's pipe). Reports
// delivered packets/s and Mbit/s of plaintext, and the CPU time (user+sys) the two wgd processes
// spent per packet (A seals, B opens, each with its pipe I/O). The relay's own CPU is printed
// separately; it stands in for magicsockd and netstackd, which are not measured here.
//   bench_wgd_pipes [--seconds S] [--size BYTES] [--window PACKETS]
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>

#include "libs/base/bytes.h"
#include "libs/bus/bus.h"
#include "libs/bus/data_pipe.h"
#include "libs/wire/keys.h"
#include "schemas/common.capnp.h"
#include "schemas/wgd.capnp.h"

namespace {

using namespace tnet;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string wgdBin() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "wgd").string();
}

// utime + stime of a process, in seconds.
double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

bool runUntil(bus::Loop& loop, const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > end) return false;
    loop.runFor(1ms);
  }
  return true;
}

struct Node {
  std::string dir;
  pid_t pid = -1;
  std::unique_ptr<bus::Bus> op;
  std::unique_ptr<bus::PipeReceiver> magicsockRx, netstackRx;
  std::unique_ptr<bus::PipeSender> magicsockTx, netstackTx;
  std::string nodePublic;
  crypto::Key32 pub{};
  std::deque<Bytes> frames;
  uint64_t delivered = 0;

  ~Node() {
    magicsockRx.reset();
    netstackRx.reset();
    magicsockTx.reset();
    netstackTx.reset();
    op.reset();
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

Result<bus::Reply> call(bus::Loop& loop, Node& n, std::string_view method, const bus::Filler& fill) {
  std::optional<Result<bus::Reply>> r;
  n.op->call("wgd", method, fill, 3000ms, [&](Result<bus::Reply> res) { r = std::move(res); });
  runUntil(
      loop, [&] { return r.has_value(); }, 5000ms);
  if (!r) return Error::disconnected("no reply");
  return std::move(*r);
}

bool startNode(bus::Loop& loop, Node& n) {
  char tmpl[] = "/tmp/tnet-wgdbench-XXXXXX";
  if (!mkdtemp(tmpl)) return false;
  n.dir = tmpl;
  mkdir((n.dir + "/magicsockd").c_str(), 0700);
  mkdir((n.dir + "/netstackd").c_str(), 0700);
  auto b = bus::Bus::create(loop, bus::BusOptions{n.dir, "operator"});
  if (!b) return false;
  n.op = std::move(*b);
  bus::PipeOptions opts;
  opts.queueBatches = 64;
  const auto backend = bus::defaultPipeBackend();
  n.magicsockRx = *bus::openPipeReceiverAs(
      *n.op, backend, "magicsockd", "wgd",
      [&n](auto packets) {
        for (auto p : packets) n.frames.emplace_back(p.begin(), p.end());
      },
      opts);
  n.netstackRx = *bus::openPipeReceiverAs(
      *n.op, backend, "netstackd", "wgd", [&n](auto packets) { n.delivered += packets.size(); }, opts);
  n.magicsockTx = *bus::openPipeSenderAs(*n.op, backend, "magicsockd", "wgd", opts);
  n.netstackTx = *bus::openPipeSenderAs(*n.op, backend, "netstackd", "wgd", opts);
  n.pid = fork();
  if (n.pid == 0) {
    std::string bin = wgdBin(), state = n.dir + "/state";
    execl(bin.c_str(), "wgd", "--runtime-dir", n.dir.c_str(), "--state-dir", state.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  if (!runUntil(
          loop, [&] { return std::filesystem::exists(n.dir + "/wgd/rpc"); }, 5000ms))
    return false;
  auto prepared = call(loop, n, "wgd.prepareNodeKey", [](auto p) { p.template initAs<schema::Empty>(); });
  if (!prepared) return false;
  n.nodePublic = prepared->as<schema::NodeKey>().getNodePublic().cStr();
  if (!call(loop, n, "wgd.commitNodeKey",
            [&](auto p) { p.template initAs<schema::NodeKey>().setNodePublic(n.nodePublic); })) {
    return false;
  }
  n.pub = key::NodePublic::parse(n.nodePublic)->raw();
  return true;
}

bool configure(bus::Loop& loop, Node& n, Node& peer, const char* allowed) {
  return bool(call(loop, n, "wgd.setConfig", [&](auto p) {
    auto c = p.template initAs<schema::WgConfig>();
    c.initGeneration().setEpoch(1);
    c.getGeneration().setN(1);
    auto list = c.initPeers(1);
    list[0].setNodePublic(peer.nodePublic);
    list[0].initAllowedIps(1).set(0, allowed);
  }));
}

// A's frames to B, as magicsockd would hand them over (DERP region 1); B's frames to A.
void relay(Node& from, Node& to, Bytes& scratch) {
  bool any = false;
  while (!from.frames.empty()) {
    Bytes& f = from.frames.front();
    scratch.assign(51, 0);
    std::copy(from.pub.begin(), from.pub.end(), scratch.begin());
    scratch[32] = 1;
    scratch[50] = 1;
    scratch.insert(scratch.end(), f.begin() + 32, f.end());
    to.magicsockTx->push(scratch);
    from.frames.pop_front();
    any = true;
  }
  if (any) to.magicsockTx->flush();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  size_t size = 1280, window = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--size") size = std::strtoul(argv[i + 1], nullptr, 10);
    if (a == "--window") window = std::strtoul(argv[i + 1], nullptr, 10);
  }
  crypto::init();
  bus::Loop loop;
  Node a, b;
  if (!startNode(loop, a) || !startNode(loop, b)) {
    std::fprintf(stderr, "could not start two wgd processes\n");
    return 1;
  }
  configure(loop, a, b, "100.64.0.2/32");
  configure(loop, b, a, "100.64.0.1/32");
  Bytes packet(size, 0x5a);
  packet[0] = 0x45;
  putU16BE(packet.data() + 2, uint16_t(size));
  packet[8] = 64;
  packet[9] = 17;
  const uint8_t src[4] = {100, 64, 0, 1}, dst[4] = {100, 64, 0, 2};
  std::memcpy(packet.data() + 12, src, 4);
  std::memcpy(packet.data() + 16, dst, 4);
  Bytes scratch;
  scratch.reserve(2048);
  // Handshake and warm-up.
  if (!runUntil(
          loop,
          [&] {
            a.netstackTx->push(packet);
            a.netstackTx->flush();
            relay(a, b, scratch);
            relay(b, a, scratch);
            return b.delivered > 0;
          },
          8000ms)) {
    std::fprintf(stderr, "no packet came through\n");
    return 1;
  }
  loop.runFor(100ms);
  relay(a, b, scratch);
  relay(b, a, scratch);
  uint64_t injected = 0;
  const uint64_t delivered0 = b.delivered;
  const double cpuA0 = cpuSeconds(a.pid), cpuB0 = cpuSeconds(b.pid);
  rusage self0{};
  getrusage(RUSAGE_SELF, &self0);
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    const uint64_t inFlight = injected - (b.delivered - delivered0);
    if (inFlight < window) {
      for (int i = 0; i < 32; ++i) a.netstackTx->push(packet);
      a.netstackTx->flush();
      injected += 32;
    }
    loop.runFor(200us);
    relay(a, b, scratch);
    relay(b, a, scratch);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const uint64_t got = b.delivered - delivered0;
  const double cpuA = cpuSeconds(a.pid) - cpuA0, cpuB = cpuSeconds(b.pid) - cpuB0;
  rusage self1{};
  getrusage(RUSAGE_SELF, &self1);
  auto tv = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  const double relayCpu = tv(self1.ru_utime) - tv(self0.ru_utime) + tv(self1.ru_stime) - tv(self0.ru_stime);
  std::printf("packets %zu B: injected %llu delivered %llu (%.1f%%) in %.2f s\n", size,
              (unsigned long long)injected, (unsigned long long)got,
              injected ? 100.0 * double(got) / double(injected) : 0, elapsed);
  std::printf("throughput: %.0f packets/s, %.1f Mbit/s plaintext\n", double(got) / elapsed,
              double(got) * double(size) * 8 / elapsed / 1e6);
  if (got > 0) {
    std::printf("wgd CPU per packet: A (seal) %.2f us, B (open) %.2f us; relay (this process) %.2f us\n",
                cpuA / double(got) * 1e6, cpuB / double(got) * 1e6, relayCpu / double(got) * 1e6);
  }
  return 0;
}
