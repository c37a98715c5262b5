// netstack_bench [MiB] [connections]: bulk download through netstackd A's SOCKS5 proxy from a
// server that netstackd B forwards to on 127.0.0.1, with this process relaying the plaintext IP
// packets between the two netstackds' pipes (as wgd would, minus the crypto). Prints MB/s, the
// netstackds' CPU time per MiB and their PSS after the transfer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/netstack/netstack_fixture.h"

using namespace tnet::netstack;
using namespace tnet::netstack::testing;
using namespace std::chrono_literals;

namespace {

double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto close = s.rfind(')');
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    in >> field;
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

long pssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("Pss:")) return std::atol(line.c_str() + 4);
  return -1;
}

// One SOCKS5 download of `path` from 100.64.0.2:port; returns body bytes read.
size_t download(uint16_t socksPort, uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(socksPort);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  uint8_t hello[] = {5, 1, 0, 5, 1, 0, 1, 100, 64, 0, 2, uint8_t(port >> 8), uint8_t(port)};
  if (write(fd, hello, sizeof hello) != ssize_t(sizeof hello)) return 0;
  uint8_t reply[12];
  size_t got = 0;
  while (got < sizeof reply) {
    ssize_t n = read(fd, reply + got, sizeof reply - got);
    if (n <= 0) return 0;
    got += size_t(n);
  }
  if (reply[3] != 0) return 0;
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: b\r\n\r\n";
  if (write(fd, req.data(), req.size()) != ssize_t(req.size())) return 0;
  std::vector<char> buf(1 << 20);
  size_t total = 0;
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    total += size_t(n);
  }
  close(fd);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
  int conns = argc > 2 ? std::atoi(argv[2]) : 1;
  HttpServer server("x", mib << 20);
  Pair pair;
  if (!pair.start()) {
    std::fprintf(stderr, "netstack_bench: netstackd did not start\n");
    return 1;
  }
  for (Node* n : {&pair.a, &pair.b}) {
    Node* peer = n == &pair.a ? &pair.b : &pair.a;
    NodeConfig c;
    c.addresses = {n->addr4 + "/32", n->addr6 + "/128"};
    c.names = {{"peer.tail.ts.net.", {peer->addr4 + "/32"}}};
    if (!n->configure(c, 1) || !pair.pipesUp(*n)) {
      std::fprintf(stderr, "netstack_bench: configuration failed\n");
      return 1;
    }
  }
  double cpuA0 = cpuSeconds(pair.a.pid), cpuB0 = cpuSeconds(pair.b.pid);
  std::atomic<size_t> bytes{0};
  std::atomic<int> done{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int i = 0; i < conns; ++i)
    clients.emplace_back([&] {
      bytes += download(pair.a.socksPort, server.port(), "/big");
      ++done;
    });
  tnet::bus::testing::runUntil(
      pair.loop, [&] { return done == conns; }, std::chrono::milliseconds(600000));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& t : clients) t.join();
  double cpuA = cpuSeconds(pair.a.pid) - cpuA0, cpuB = cpuSeconds(pair.b.pid) - cpuB0;
  double mb = double(bytes) / 1e6;
  std::printf("netstack_bench: %d connection(s), %.1f MiB received in %.2f s: %.1f MB/s (%.0f Mbit/s)\n",
              conns, double(bytes) / (1 << 20), secs, mb / secs, mb * 8 / secs);
  std::printf(
      "netstack_bench: CPU netstackd A %.2f s, B %.2f s (%.1f + %.1f ms per MiB); relay packets %lu\n", cpuA,
      cpuB, cpuA * 1000 / (double(bytes) / (1 << 20)), cpuB * 1000 / (double(bytes) / (1 << 20)),
      static_cast<unsigned long>(pair.relayed));
  std::printf("netstack_bench: PSS after transfer: A %ld KiB, B %ld KiB\n", pssKb(pair.a.pid),
              pssKb(pair.b.pid));
  return bytes >= size_t(conns) * (mib << 20) ? 0 : 1;  // body plus the response heads
}
