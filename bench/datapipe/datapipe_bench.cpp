// DataPipe benchmark: three processes in a chain, source -> relay -> sink, sharing two cores, for
// each backend and batch size. Prints CPU per delivered packet (user+sys of all three processes,
// i.e. two hops) and one-way latency (p50/p99, source push -> sink receive) at a fixed offered
// load of 1400-byte packets. docs/bus.md records the numbers and the backend chosen from them.
//
//   datapipe_bench [--seconds S] [--rate PPS] [--backend zmq|seqpacket|all] [--batch N|all]
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/data_pipe.h"
#include "libs/log/log.h"

using namespace tnet;
using namespace tnet::bus;

namespace {

constexpr size_t PACKET = 1400;

uint64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time (user+sys, all threads) of this process in microseconds.
double selfCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void pinToTwoCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  CPU_SET(1, &set);
  sched_setaffinity(0, sizeof set, &set);
}

struct Config {
  double seconds = 3;
  double rate = 100000;  // packets per second offered by the source
  size_t batch = 32;
  PipeBackend backend = PipeBackend::SEQPACKET;
  std::string runtime;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "datapipe_bench: %s\n", what.c_str());
  _exit(2);
}

std::unique_ptr<Bus> makeBus(Loop& loop, const Config& c) {
  auto b = Bus::create(loop, BusOptions{c.runtime, "operator"});
  if (!b) die(b.error().message);
  return std::move(*b);
}

PipeOptions pipeOptions(const Config& c) {
  PipeOptions o;
  o.maxPacket = PACKET;
  o.maxBatch = std::max<size_t>(c.batch, 1);
  o.queueBatches = 16;
  return o;
}

// sink: receives from the relay, records latency per packet, writes results to `out`.
int runSink(const Config& c, int out) {
  Loop loop;
  auto bus = makeBus(loop, c);
  std::vector<uint32_t> latencyUs;
  latencyUs.reserve(static_cast<size_t>(c.rate * c.seconds * 1.5) + 1024);
  uint64_t packets = 0;
  double cpuFirst = 0, cpuLast = 0;
  auto rx = openPipeReceiverAs(
      *bus, c.backend, "magicsockd", "wgd",
      [&](auto batch) {
        uint64_t now = nowNs();
        if (packets == 0) cpuFirst = selfCpuUs();
        for (auto p : batch) {
          uint64_t sent;
          std::memcpy(&sent, p.data(), sizeof sent);
          ++packets;
          if (latencyUs.size() < latencyUs.capacity())
            latencyUs.push_back(static_cast<uint32_t>((now - sent) / 1000));
        }
        cpuLast = selfCpuUs();
      },
      pipeOptions(c));
  if (!rx) die(rx.error().message);
  auto stop = loop.after(std::chrono::milliseconds(static_cast<int64_t>(c.seconds * 1000) + 1500),
                         [&] { loop.stop(); });
  loop.run();
  std::sort(latencyUs.begin(), latencyUs.end());
  auto pct = [&](double q) -> uint32_t {
    if (latencyUs.empty()) return 0;
    return latencyUs[std::min(latencyUs.size() - 1, static_cast<size_t>(q * latencyUs.size()))];
  };
  dprintf(out, "%" PRIu64 " %u %u %u %.0f\n", packets, pct(0.5), pct(0.99), pct(0.999), cpuLast - cpuFirst);
  return 0;
}

// relay: receives from the source and forwards every packet, flushing at the end of each batch.
int runRelay(const Config& c, int out) {
  Loop loop;
  auto bus = makeBus(loop, c);
  auto tx = openPipeSenderAs(*bus, c.backend, "wgd", "magicsockd", pipeOptions(c));
  if (!tx) die(tx.error().message);
  PipeSender& sender = **tx;
  double cpuFirst = 0, cpuLast = 0;
  uint64_t received = 0;
  auto rx = openPipeReceiverAs(
      *bus, c.backend, "wgd", "netstackd",
      [&](auto batch) {
        if (received == 0) cpuFirst = selfCpuUs();
        received += batch.size();
        for (auto p : batch) sender.push(p);
        sender.flush();
        cpuLast = selfCpuUs();
      },
      pipeOptions(c));
  if (!rx) die(rx.error().message);
  auto stop = loop.after(std::chrono::milliseconds(static_cast<int64_t>(c.seconds * 1000) + 1200),
                         [&] { loop.stop(); });
  loop.run();
  dprintf(out, "%" PRIu64 " %" PRIu64 " %.0f\n", sender.stats().packets, sender.stats().dropsFull,
          cpuLast - cpuFirst);
  return 0;
}

// source: offers `rate` packets/s, flushing exactly `batch` packets at a time.
int runSource(const Config& c, int out) {
  Loop loop;
  auto bus = makeBus(loop, c);
  auto tx = openPipeSenderAs(*bus, c.backend, "netstackd", "wgd", pipeOptions(c));
  if (!tx) die(tx.error().message);
  PipeSender& sender = **tx;
  std::vector<uint8_t> packet(PACKET, 0x5a);
  uint64_t start = 0, offered = 0;
  double cpuStart = 0, cpuEnd = 0;
  const uint64_t total = static_cast<uint64_t>(c.rate * c.seconds);
  Handle tick;
  // Warm-up: let both hops connect (500 ms) before measuring.
  auto begin = loop.after(std::chrono::milliseconds(500), [&] {
    start = nowNs();
    cpuStart = selfCpuUs();
    // One flush of exactly `batch` packets per period batch/rate (at least 20 us): the
    // batch size on the wire is the one asked for, whatever the rate.
    auto period = std::chrono::nanoseconds(
        std::max<int64_t>(20000, static_cast<int64_t>(1e9 * static_cast<double>(c.batch) / c.rate)));
    tick = loop.every(period, [&] {
      uint64_t due = std::min(total, static_cast<uint64_t>((nowNs() - start) * 1e-9 * c.rate));
      while (offered + c.batch <= due || (due == total && offered < total)) {
        size_t n = std::min<uint64_t>(c.batch, total - offered);
        for (size_t i = 0; i < n; ++i) {
          uint64_t t = nowNs();
          std::memcpy(packet.data(), &t, sizeof t);
          sender.push(packet);
        }
        sender.flush();
        offered += n;
      }
      if (offered >= total) {
        cpuEnd = selfCpuUs();
        tick.reset();
        loop.stop();
      }
    });
  });
  loop.run();
  dprintf(out, "%" PRIu64 " %" PRIu64 " %.0f\n", sender.stats().packets, sender.stats().dropsFull,
          cpuEnd - cpuStart);
  return 0;
}

struct Child {
  pid_t pid;
  int fd;
};

Child spawn(int (*fn)(const Config&, int), const Config& c) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(fds[0]);
    pinToTwoCores();
    _exit(fn(c, fds[1]));
  }
  close(fds[1]);
  return {pid, fds[0]};
}

std::string readAll(int fd) {
  std::string s;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  close(fd);
  return s;
}

double waitCpu(pid_t pid) {
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die("a benchmark process failed");
  }
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void runOne(Config c) {
  char tmpl[] = "/tmp/tnet-dpb-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  c.runtime = tmpl;
  mkdir((c.runtime + "/wgd").c_str(), 0700);
  mkdir((c.runtime + "/magicsockd").c_str(), 0700);
  Child sink = spawn(runSink, c);
  usleep(100000);
  Child relay = spawn(runRelay, c);
  usleep(100000);
  Child source = spawn(runSource, c);
  std::string srcOut = readAll(source.fd), relayOut = readAll(relay.fd), sinkOut = readAll(sink.fd);
  double totalCpuUs = waitCpu(source.pid) + waitCpu(relay.pid) + waitCpu(sink.pid);
  uint64_t sent = 0, srcDrops = 0, fwd = 0, relayDrops = 0, delivered = 0;
  unsigned p50 = 0, p99 = 0, p999 = 0;
  double srcCpu = 0, relayCpu = 0, sinkCpu = 0;
  std::sscanf(srcOut.c_str(), "%" SCNu64 " %" SCNu64 " %lf", &sent, &srcDrops, &srcCpu);
  std::sscanf(relayOut.c_str(), "%" SCNu64 " %" SCNu64 " %lf", &fwd, &relayDrops, &relayCpu);
  std::sscanf(sinkOut.c_str(), "%" SCNu64 " %u %u %u %lf", &delivered, &p50, &p99, &p999, &sinkCpu);
  // Steady-state CPU: each process's CPU time over its own busy window (setup and warm-up
  // excluded; the source's pacing wake-ups included). The whole-run figure is printed too.
  double cpuUs = srcCpu + relayCpu + sinkCpu;
  std::printf("%-9s batch=%-2zu rate=%-7.0f delivered=%-8" PRIu64 " drops=%" PRIu64 "+%" PRIu64
              "  cpu=%.2f us/packet (source %.2f relay %.2f sink %.2f; whole run %.2f)"
              "  latency p50=%u us p99=%u us p99.9=%u us\n",
              std::string(pipeBackendName(c.backend)).c_str(), c.batch, c.rate, delivered, srcDrops,
              relayDrops, delivered ? cpuUs / static_cast<double>(delivered) : 0.0,
              delivered ? srcCpu / static_cast<double>(delivered) : 0.0,
              delivered ? relayCpu / static_cast<double>(delivered) : 0.0,
              delivered ? sinkCpu / static_cast<double>(delivered) : 0.0,
              delivered ? totalCpuUs / static_cast<double>(delivered) : 0.0, p50, p99, p999);
  std::fflush(stdout);
  std::filesystem::remove_all(c.runtime);
}

}  // namespace

int main(int argc, char** argv) {
  log::init("datapipe_bench", 0);
  Config base;
  std::vector<PipeBackend> backends = {PipeBackend::ZMQ_PUSH_PULL, PipeBackend::SEQPACKET};
  std::vector<size_t> batches = {1, 32};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--seconds") {
      base.seconds = std::atof(v.c_str());
    } else if (k == "--rate") {
      base.rate = std::atof(v.c_str());
    } else if (k == "--backend" && v != "all") {
      auto b = parsePipeBackend(v);
      if (!b) die(b.error().message);
      backends = {*b};
    } else if (k == "--batch" && v != "all") {
      batches = {static_cast<size_t>(std::atoi(v.c_str()))};
    } else {
      die("usage: datapipe_bench [--seconds S] [--rate PPS] [--backend zmq|seqpacket|all] [--batch N|all]");
    }
  }
  for (size_t b : batches) {
    if (b < 1 || b > MAX_BATCH) die("batch must be 1.." + std::to_string(MAX_BATCH));
  }
  for (auto backend : backends) {
    for (size_t b : batches) {
      Config c = base;
      c.backend = backend;
      c.batch = b;
      runOne(c);
    }
  }
  return 0;
}
