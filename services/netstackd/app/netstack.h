// netstackd's engine: the packet filter in front of lwIP, the outbound proxies (SOCKS5, HTTP),
// inbound forwarding to 127.0.0.1 as Go's userspace mode does, and quad-100's DNS answers for
// SOCKS5 UDP. Bus-free: packets come in through fromTunnel() and leave through the output
// callback, so the contract test and the benchmark drive the same code the service runs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "services/netstackd/app/lwip_stack.h"
#include "services/netstackd/app/poller.h"
#include "services/netstackd/core/dns.h"
#include "services/netstackd/core/filter.h"
#include "services/netstackd/core/route.h"

struct tcp_pcb;

namespace tnet::netstack {

struct EngineLimits {
  size_t maxConnections = 4096;          // proxied + inbound TCP connections
  size_t maxBufferedBytes = 256u << 20;  // tailnet→local bytes held while local sockets are slow
  size_t maxQueuedBytes = 128u << 20;    // local→tailnet bytes in lwIP, not yet acknowledged
  size_t maxUdpFlows = 1024;             // inbound UDP flows and SOCKS5 UDP associations
  std::chrono::seconds udpIdle{60};
};

struct EngineConfig {
  std::optional<Addr> v4, v6;
  bool filterKnown = false;
  std::vector<FilterRuleSpec> rules;
  bool shieldsUp = false;
  dns::NameTable names;
};

struct EngineStats {
  uint64_t fromTunnel = 0, toTunnel = 0;
  uint64_t malformed = 0, filtered = 0;
  uint64_t tcpConnections = 0, inboundTcp = 0, inboundUdpFlows = 0;
  uint64_t refusedLimit = 0;
};

class Conn;
class HostResolver;
class UdpFlow;
class UdpAssoc;

class Engine {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;

  Engine(bus::Loop& loop, Output toTunnel, EngineLimits limits = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Listeners are bound at start; before addresses arrive they answer "network unreachable".
  // The same address for both means one listener that tells them apart by the first byte.
  Result<void> listenSocks5(const std::string& addrPort);
  Result<void> listenHttp(const std::string& addrPort);
  // "127.0.0.1:port" of a bound listener (port 0 in the flag picks an ephemeral one).
  std::string socks5Address() const { return socksAddr_; }
  std::string httpAddress() const { return httpAddr_; }

  void configure(EngineConfig config, std::vector<std::string>* filterErrors = nullptr);
  bool hasAddresses() const { return stack_.hasAddresses(); }

  // One packet from wgd (plaintext IP).
  void fromTunnel(std::span<const uint8_t> packet);
  // Called after a batch of work so the output and lwIP's timers are settled.
  void afterWork();

  const EngineStats& stats() const { return stats_; }
  size_t connectionCount() const;

  // ---- for Conn/UdpFlow/UdpAssoc ----
  bus::Loop& loop() { return loop_; }
  Poller& poller() { return poller_; }
  LwipStack& stack() { return stack_; }
  const EngineLimits& limits() const { return limits_; }
  size_t& bufferedBytes() { return buffered_; }
  size_t& queuedBytes() { return queued_; }
  const dns::NameTable& names() const { return names_; }
  // Resolves a proxy target: an IP literal or a MagicDNS name. Prefers our own address family.
  std::optional<Addr> resolve(const std::string& host) const;
  // The netmap's node addresses: dial targets that go into the netstack (others: the OS).
  const route::TailnetAddrs& tailnetAddrs() const { return tailnet_; }
  HostResolver& resolver() { return *resolver_; }
  void release(Conn* conn);  // deletes later, on the loop
  void release(UdpFlow* flow);
  void release(UdpAssoc* assoc);
  void inboundReady(Conn* conn, std::span<const uint8_t> syn);
  void inboundFailed(Conn* conn, std::span<const uint8_t> syn);
  Conn* takeInbound(bool v6, const Addr& remote, uint16_t remotePort, uint16_t localPort);
  void forgetInbound(Conn* conn);
  UdpAssoc* newAssoc(int fd, Conn* control);
  void scheduleFlush();
  // A packet built outside lwIP (it takes the same way out: conntrack, then the pipe).
  void emit(std::span<const uint8_t> packet);
  void setFlushHook(std::function<void()> hook) { flushHook_ = std::move(hook); }

 private:
  struct Listener;
  Result<void> listen(const std::string& addrPort, int kind);
  void onAccept(Listener& l);
  void handleInboundSyn(const PacketInfo& info, std::span<const uint8_t> packet);
  bool handleInboundUdp(const PacketInfo& info, std::span<const uint8_t> packet);
  void ensureListener(uint16_t port);
  void sweepUdp();
  void reap();

  // First member, so it outlives the others: lwIP may emit (RSTs) while they are torn down.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bus::Loop& loop_;
  Output output_;
  EngineLimits limits_;
  Poller poller_;
  LwipStack stack_;
  Filter filter_;
  dns::NameTable names_;
  route::TailnetAddrs tailnet_;
  std::unique_ptr<HostResolver> resolver_;
  EngineStats stats_;
  size_t buffered_ = 0, queued_ = 0;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::string socksAddr_, httpAddr_, socksFlag_, httpFlag_;
  std::set<Conn*> conns_;
  std::vector<Conn*> dead_;
  std::vector<UdpFlow*> deadFlows_;
  std::vector<UdpAssoc*> deadAssocs_;
  // Inbound TCP: (v6, remote, remote port, local port) → the connection dialing 127.0.0.1.
  using InKey = std::tuple<bool, Addr, uint16_t, uint16_t>;
  std::map<InKey, Conn*> inboundPending_, inboundReady_;
  std::map<uint16_t, struct tcp_pcb*> tcpListeners_;
  std::map<InKey, UdpFlow*> udpFlows_;
  std::set<UdpAssoc*> assocs_;
  std::set<uint16_t> assocPorts_;
  bus::Handle reapPost_, udpSweep_;
  bool reapScheduled_ = false, flushScheduled_ = false;
  std::function<void()> flushHook_;

  friend class Conn;
  friend class UdpAssoc;
  friend class UdpFlow;
};

}  // namespace tnet::netstack
