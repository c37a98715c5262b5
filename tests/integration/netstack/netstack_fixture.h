// Two netstackd processes (A = 100.64.0.1, B = 100.64.0.2) wired together by the test process,
// which plays wgd: it relays IP packets between their pipes, can watch and inject packets, and
// runs loopback servers (HTTP, UDP echo) that inbound connections reach.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/bus/data_pipe.h"
#include "services/netstackd/core/packet.h"

namespace tnet::netstack::testing {

uint16_t freeTcpPort();

// A tiny HTTP/1.0-style server on 127.0.0.1: "/" answers `body`, "/big" answers bigSize bytes of
// bigByte(i). One thread per connection.
class HttpServer {
 public:
  explicit HttpServer(std::string body, size_t bigSize = 10u << 20);
  ~HttpServer();
  uint16_t port() const { return port_; }
  int served() const { return served_; }
  static uint8_t bigByte(size_t i) { return uint8_t((i * 7) ^ (i >> 10)); }

 private:
  void serve(int fd);
  std::string body_;
  size_t bigSize_;
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> served_{0};
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
  std::mutex mu_;
};

// A UDP echo server on 127.0.0.1 that counts datagrams.
class UdpEcho {
 public:
  UdpEcho();
  ~UdpEcho();
  uint16_t port() const { return port_; }
  int received() const { return received_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> received_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct NodeConfig {
  std::vector<std::string> addresses;
  bool filterKnown = true;
  // Each rule: srcs, (ip, first, last) dsts; empty = allow all.
  struct Rule {
    std::vector<std::string> srcs;
    std::string dst;
    uint16_t first, last;
  };
  std::vector<Rule> rules;
  bool allowAll = true;
  bool shieldsUp = false;
  std::vector<std::pair<std::string, std::vector<std::string>>> names;  // fqdn → addresses
};

class Node {
 public:
  Node(bus::Loop& loop, std::string name, std::string addr4, std::string addr6);
  ~Node();
  bool start();  // spawns netstackd and opens the pipes; false on failure
  Result<void> configure(const NodeConfig& cfg, uint64_t n);
  void kill();

  std::string name;
  std::string addr4, addr6;
  uint16_t socksPort = 0, httpPort = 0;
  bus::testing::TempRuntime runtime, state;
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<bus::PipeSender> toNode;
  std::unique_ptr<bus::PipeReceiver> fromNode;
  std::function<void(std::span<const std::span<const uint8_t>>)> onBatch;  // what the node sends
  pid_t pid = -1;
  int exitCode = -1;  // after kill(): 0 for a clean shutdown (sanitizers report leaks as non-zero)
  std::string logPath;
  // netstackd's /etc/resolv.conf points at 127.0.0.2 (nothing there): OS lookups of names that
  // are not in /etc/hosts fail locally. False when no namespace could be made.
  bool hermeticDns = false;
  bus::Loop& loop;
};

// Relays between A and B and runs child processes while driving the loop.
class Pair {
 public:
  Pair();
  bool start();
  // Drops packets from `from` when the predicate says so (to watch or block traffic).
  std::function<bool(const Node& from, std::span<const uint8_t>)> intercept;
  // Runs argv (stdout to a file) while driving the loop; returns exit status and stdout.
  std::pair<int, std::string> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);
  void inject(Node& to, std::span<const uint8_t> packet);
  // Both pipes of a configured node carry packets (an ICMP echo from a test address comes back).
  bool pipesUp(Node& n);

  bus::Loop loop;
  Node a, b;
  uint64_t relayed = 0;

 private:
  void relay(Node& from, Node& to, std::span<const std::span<const uint8_t>> batch);
};

// IPv4 packets with correct checksums, for injection.
std::vector<uint8_t> ipv4Packet(const Addr& src, const Addr& dst, uint8_t proto,
                                std::vector<uint8_t> transport);
std::vector<uint8_t> icmpEcho(const Addr& src, const Addr& dst, uint16_t id, uint16_t seq);
std::vector<uint8_t> udpPacket(const Addr& src, const Addr& dst, uint16_t sport, uint16_t dport,
                               std::span<const uint8_t> payload);
std::vector<uint8_t> udpPacket6(const Addr& src, const Addr& dst, uint16_t sport, uint16_t dport,
                                std::span<const uint8_t> payload);
std::vector<uint8_t> tcpSyn(const Addr& src, const Addr& dst, uint16_t sport, uint16_t dport, uint32_t seq);

}  // namespace tnet::netstack::testing
