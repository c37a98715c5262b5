// Engine's inbound forwarding, as Go's userspace mode does: a peer's TCP connection to our address
// completes only once 127.0.0.1:port accepted the local dial; a peer's UDP flow gets its own lwIP
// pcb and a socket connected to 127.0.0.1:port, dropped when idle.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "lwip/ip.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "services/netstackd/app/addr_convert.h"
#include "services/netstackd/app/netstack.h"
#include "services/netstackd/app/tcp_conn.h"
#include "services/netstackd/app/udp_flow.h"

namespace tnet::netstack {

void Engine::handleInboundSyn(const PacketInfo& info, std::span<const uint8_t> packet) {
  InKey key{info.v6, info.src, info.srcPort, info.dstPort};
  if (inboundReady_.count(key)) return stack_.input(packet);  // a retransmitted SYN
  if (inboundPending_.count(key)) return;                     // still dialing 127.0.0.1
  if (conns_.size() >= limits_.maxConnections) {
    ++stats_.refusedLimit;
    return stack_.input(packet);  // no listener takes it: lwIP answers RST
  }
  // Go's userspace mode: dial 127.0.0.1:<port> first; complete the handshake only if it worked.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage ss;
  socklen_t len = toSockaddr(Addr::v4(127, 0, 0, 1), info.dstPort, ss);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return stack_.input(packet);  // RST
  }
  auto* c = new Conn(*this, fd, Conn::Kind::INBOUND);
  c->syn.assign(packet.begin(), packet.end());
  c->inboundV6 = info.v6;
  c->inboundRemote = info.src;
  c->inboundRemotePort = info.srcPort;
  c->inboundLocalPort = info.dstPort;
  conns_.insert(c);
  inboundPending_[key] = c;
  ++stats_.inboundTcp;
}

void Engine::ensureListener(uint16_t port) {
  if (tcpListeners_.count(port)) return;
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (!pcb) return;
  ip_set_option(pcb, SOF_REUSEADDR);
  if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    tcp_close(pcb);
    return;
  }
  struct tcp_pcb* l = tcp_listen_with_backlog(pcb, 255);
  if (!l) {
    tcp_close(pcb);
    return;
  }
  tcp_arg(l, this);
  tcp_accept(l, [](void* arg, struct tcp_pcb* newpcb, err_t err) -> err_t {
    auto* e = static_cast<Engine*>(arg);
    if (err != ERR_OK || !newpcb) return ERR_VAL;
    Conn* c = e->takeInbound(IP_IS_V6(&newpcb->remote_ip), fromLwip(&newpcb->remote_ip), newpcb->remote_port,
                             newpcb->local_port);
    if (!c) {
      tcp_abort(newpcb);
      return ERR_ABRT;
    }
    c->attachAccepted(newpcb);
    return ERR_OK;
  });
  tcpListeners_[port] = l;
}

void Engine::inboundReady(Conn* c, std::span<const uint8_t> syn) {
  InKey key{c->inboundV6, c->inboundRemote, c->inboundRemotePort, c->inboundLocalPort};
  inboundPending_.erase(key);
  inboundReady_[key] = c;
  // A SYN whose handshake never completes (the peer went away) must not pin the local socket.
  c->acceptTimer = loop_.after(std::chrono::seconds(30), [this, c] {
    if (conns_.count(c) && c->phase_ == Conn::Phase::WAIT_ACCEPT) c->fail();
  });
  ensureListener(c->inboundLocalPort);
  std::vector<uint8_t> copy(syn.begin(), syn.end());
  stack_.input(copy);
}

void Engine::inboundFailed(Conn* c, std::span<const uint8_t> syn) {
  InKey key{c->inboundV6, c->inboundRemote, c->inboundRemotePort, c->inboundLocalPort};
  inboundPending_.erase(key);
  std::vector<uint8_t> copy(syn.begin(), syn.end());
  // With no ready connection the accept callback aborts it, or no listener exists: either way
  // the peer gets a RST, as Go answers when the local dial fails.
  stack_.input(copy);
  c->fail();
}

Conn* Engine::takeInbound(bool v6, const Addr& remote, uint16_t remotePort, uint16_t localPort) {
  auto it = inboundReady_.find(InKey{v6, remote, remotePort, localPort});
  if (it == inboundReady_.end()) return nullptr;
  Conn* c = it->second;
  if (c->phase_ != Conn::Phase::WAIT_ACCEPT) return nullptr;
  return c;
}

void Engine::forgetInbound(Conn* c) {
  InKey key{c->inboundV6, c->inboundRemote, c->inboundRemotePort, c->inboundLocalPort};
  if (auto it = inboundReady_.find(key); it != inboundReady_.end() && it->second == c)
    inboundReady_.erase(it);
  if (auto it = inboundPending_.find(key); it != inboundPending_.end() && it->second == c)
    inboundPending_.erase(it);
}

bool Engine::handleInboundUdp(const PacketInfo& info, std::span<const uint8_t> packet) {
  if (assocPorts_.count(info.dstPort)) return false;  // a reply to a SOCKS5 UDP association
  InKey key{info.v6, info.src, info.srcPort, info.dstPort};
  if (udpFlows_.count(key)) return false;  // lwIP delivers to the flow's pcb
  if (udpFlows_.size() >= limits_.maxUdpFlows) {
    ++stats_.refusedLimit;
    return true;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  sockaddr_storage ss;
  socklen_t len = toSockaddr(Addr::v4(127, 0, 0, 1), info.dstPort, ss);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return true;
  }
  struct udp_pcb* pcb = udp_new_ip_type(info.v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
  if (!pcb) {
    close(fd);
    return true;
  }
  ip_set_option(pcb, SOF_REUSEADDR);
  ip_addr_t local = toLwip(info.dst), remote = toLwip(info.src);
  if (udp_bind(pcb, &local, info.dstPort) != ERR_OK || udp_connect(pcb, &remote, info.srcPort) != ERR_OK) {
    udp_remove(pcb);
    close(fd);
    return true;
  }
  auto* f = new UdpFlow(*this, fd, pcb, std::vector<uint8_t>(packet.begin(), packet.end()), info.v6);
  udpFlows_[key] = f;
  ++stats_.inboundUdpFlows;
  return false;  // now lwIP finds the flow's pcb
}

void Engine::sweepUdp() {
  auto now = loop_.now();
  for (auto it = udpFlows_.begin(); it != udpFlows_.end();) {
    if (it->second->dead || now - it->second->lastUsed > limits_.udpIdle) {
      if (!it->second->dead) deadFlows_.push_back(it->second);
      it = udpFlows_.erase(it);
    } else {
      ++it;
    }
  }
  reap();
}

}  // namespace tnet::netstack
