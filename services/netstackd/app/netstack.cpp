// Engine: the packet filter in front of lwIP, packets in and out, the proxy listeners, and the
// connections' and flows' lifetimes. Inbound forwarding is inbound.cpp; the connection and UDP
// classes are tcp_conn.h, udp_assoc.h, udp_flow.h.
#include "services/netstackd/app/netstack.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libs/ipn/netip.h"
#include "lwip/tcp.h"
#include "services/netstackd/app/addr_convert.h"
#include "services/netstackd/app/os_dial.h"
#include "services/netstackd/app/tcp_conn.h"
#include "services/netstackd/app/udp_assoc.h"
#include "services/netstackd/app/udp_flow.h"

namespace tnet::netstack {

namespace {

enum ListenKind { KIND_SOCKS = 1, KIND_HTTP = 2, KIND_BOTH = 3 };

}  // namespace

// ---- Engine ------------------------------------------------------------------------------
struct Engine::Listener {
  int fd = -1;
  int kind = 0;
  uint64_t token = 0;
};

Engine::Engine(bus::Loop& loop, Output toTunnel, EngineLimits limits)
    : loop_(loop),
      output_(std::move(toTunnel)),
      limits_(limits),
      poller_(loop, [this] { afterWork(); }),
      stack_(loop, [this](std::span<const uint8_t> p) {
        if (!*alive_) return;
        PacketInfo info;
        if (parsePacket(p, info) == ParseStatus::OK) filter_.runOut(info);
        ++stats_.toTunnel;
        output_(p);
        scheduleFlush();
      }) {
  resolver_ = std::make_unique<HostResolver>(loop_);
  udpSweep_ = loop_.every(std::chrono::seconds(5), [this] { sweepUdp(); });
}

Engine::~Engine() {
  *alive_ = false;
  for (auto* c : conns_) delete c;
  for (auto* c : dead_)
    if (!conns_.count(c)) delete c;
  for (auto& [k, f] : udpFlows_) delete f;
  for (auto* f : deadFlows_) delete f;
  for (auto* a : assocs_) delete a;
  for (auto* a : deadAssocs_) delete a;
  for (auto& [port, pcb] : tcpListeners_) tcp_close(pcb);
  for (auto& l : listeners_) {
    poller_.remove(l->token);
    close(l->fd);
  }
}

Result<void> Engine::listenSocks5(const std::string& addrPort) {
  if (!httpAddr_.empty() && addrPort == httpFlag_) {
    for (auto& l : listeners_) l->kind |= KIND_SOCKS;
    socksAddr_ = httpAddr_;
    return {};
  }
  socksFlag_ = addrPort;
  return listen(addrPort, KIND_SOCKS);
}

Result<void> Engine::listenHttp(const std::string& addrPort) {
  if (!socksAddr_.empty() && addrPort == socksFlag_) {
    for (auto& l : listeners_) l->kind |= KIND_HTTP;
    httpAddr_ = socksAddr_;
    return {};
  }
  httpFlag_ = addrPort;
  return listen(addrPort, KIND_HTTP);
}

Result<void> Engine::listen(const std::string& addrPort, int kind) {
  std::string text = addrPort;
  if (text.starts_with("localhost:")) text = "127.0.0.1" + text.substr(9);
  if (text.starts_with(":")) text = "127.0.0.1" + text;  // loopback unless told otherwise
  auto ap = ipn::parseIpAddrPort(text);
  if (!ap) return Error::invalid("listen address " + addrPort + ": " + ap.error().message);
  Addr a;
  a.v6 = ap->addr.v6;
  std::copy(ap->addr.bytes.begin(), ap->addr.bytes.begin() + (a.v6 ? 16 : 4), a.bytes.begin());
  sockaddr_storage ss;
  socklen_t len = toSockaddr(a, ap->port, ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 512) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    return Error::failed("listen " + addrPort + ": " + std::strerror(err));
  }
  len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  uint16_t port = 0;
  fromSockaddr(ss, a, port);
  std::string bound =
      a.v6 ? "[" + a.toString() + "]:" + std::to_string(port) : a.toString() + ":" + std::to_string(port);
  (kind == KIND_SOCKS ? socksAddr_ : httpAddr_) = bound;
  auto l = std::make_unique<Listener>();
  l->fd = fd;
  l->kind = kind;
  Listener* raw = l.get();
  l->token = poller_.add(fd, EPOLLIN, [this, raw](uint32_t) { onAccept(*raw); });
  listeners_.push_back(std::move(l));
  return {};
}

void Engine::onAccept(Listener& l) {
  while (true) {
    int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    if (conns_.size() >= limits_.maxConnections) {
      ++stats_.refusedLimit;
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto kind = l.kind == KIND_BOTH    ? Conn::Kind::AUTO
                : l.kind == KIND_SOCKS ? Conn::Kind::SOCKS5
                                       : Conn::Kind::HTTP;
    auto* c = new Conn(*this, fd, kind);
    conns_.insert(c);
    ++stats_.tcpConnections;
  }
}

void Engine::configure(EngineConfig config, std::vector<std::string>* filterErrors) {
  stack_.setAddresses(config.v4, config.v6);
  std::vector<Addr> local;
  if (config.v4) local.push_back(*config.v4);
  if (config.v6) local.push_back(*config.v6);
  filter_.configure(local, config.filterKnown, config.rules, config.shieldsUp, filterErrors);
  names_ = std::move(config.names);
  tailnet_.clear();
  for (const auto& a : local) tailnet_.add(a);
  for (const auto& a : names_.allAddrs()) tailnet_.add(a);
  afterWork();
}

std::optional<Addr> Engine::resolve(const std::string& host) const {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (auto a = parseAddr(h)) return *a;
  auto addrs = dns::resolve(names_, h);
  // Our own family first: an IPv4-only node cannot reach a peer's IPv6 address.
  for (const auto& a : addrs)
    if ((a.v6 ? stack_.v6() : stack_.v4()).has_value()) return a;
  return std::nullopt;
}

size_t Engine::connectionCount() const {
  return conns_.size();
}

void Engine::fromTunnel(std::span<const uint8_t> packet) {
  ++stats_.fromTunnel;
  PacketInfo info;
  if (parsePacket(packet, info) != ParseStatus::OK) {
    ++stats_.malformed;
    return;
  }
  auto verdict = filter_.runIn(info);
  if (verdict.verdict == Verdict::DROP) {
    ++stats_.filtered;
    return;
  }
  if (!info.fragment && info.isTcpSyn()) return handleInboundSyn(info, packet);
  if (!info.fragment && info.proto == PROTO_UDP && handleInboundUdp(info, packet)) return;
  stack_.input(packet);
}

UdpAssoc* Engine::newAssoc(int fd, Conn* control) {
  if (assocs_.size() >= limits_.maxUdpFlows) {
    close(fd);
    return nullptr;
  }
  auto* a = new UdpAssoc(*this, fd, control);
  assocs_.insert(a);
  return a;
}

void Engine::release(Conn* c) {
  if (!conns_.count(c)) return;
  forgetInbound(c);
  if (c->assoc) {
    release(c->assoc);
    c->assoc = nullptr;
  }
  conns_.erase(c);
  dead_.push_back(c);
  scheduleFlush();
}

void Engine::release(UdpFlow* f) {
  for (auto it = udpFlows_.begin(); it != udpFlows_.end(); ++it)
    if (it->second == f) {
      udpFlows_.erase(it);
      deadFlows_.push_back(f);
      break;
    }
  scheduleFlush();
}

void Engine::release(UdpAssoc* a) {
  if (assocs_.erase(a)) deadAssocs_.push_back(a);
  scheduleFlush();
}

void Engine::reap() {
  auto conns = std::move(dead_);
  auto flows = std::move(deadFlows_);
  auto assocs = std::move(deadAssocs_);
  dead_.clear();
  deadFlows_.clear();
  deadAssocs_.clear();
  for (auto* c : conns) delete c;
  for (auto* f : flows) delete f;
  for (auto* a : assocs) delete a;
}

void Engine::emit(std::span<const uint8_t> packet) {
  stack_.emit(packet);
}

void Engine::scheduleFlush() {
  if (flushScheduled_ || !*alive_) return;
  flushScheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive] {
    if (alive.expired()) return;
    flushScheduled_ = false;
    afterWork();
  });
}

void Engine::afterWork() {
  reap();
  if (flushHook_) flushHook_();
  stack_.kick();
}

}  // namespace tnet::netstack
